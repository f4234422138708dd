"""One tenant cannot flush the shared exact cache for the others.

The in-process cache is one LRU bounded by bytes for every tenant. Before: a caller with
a valid key that sent many distinct deterministic requests (temperature 0, so cached)
evicted every other tenant's answers, which then cost them an upstream call each again.
Now an owner over its even share of a full store makes room from its own entries.
"""

from __future__ import annotations

import asyncio

import httpx
import openai
from tests.e2e.conftest import GatewayFactory, model_list
from tests.fakes import ThreadedFake
from tests.live_server import LiveGateway
from tests.support import bearer

from lockgate.cache.memory import MemoryStore

MAX_BYTES = 256 * 1024


def _key(gw: LiveGateway, name: str) -> str:
    r = httpx.post(gw.url + "/admin/keys", json={"name": name}, headers=bearer(), timeout=30)
    r.raise_for_status()
    return str(r.json()["key"])


def _ask(client: openai.OpenAI, text: str) -> str:
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", temperature=0, messages=[{"role": "user", "content": text}]
    )
    return raw.headers["x-lockgate-cache"]


def test_a_tenant_sending_distinct_requests_evicts_only_its_own_answers(
    fake: ThreadedFake, gateway_factory: GatewayFactory
) -> None:
    gw = gateway_factory(model_list(fake), cache={"url": f"memory://?max_bytes={MAX_BYTES}"})
    victim = openai.OpenAI(base_url=gw.v1, api_key=_key(gw, "victim"), max_retries=0)
    hostile = openai.OpenAI(base_url=gw.v1, api_key=_key(gw, "hostile"), max_retries=0)
    with victim, hostile:
        asked = [f"question {i} " + "context " * 100 for i in range(20)]  # ~30% of the store
        assert [_ask(victim, q) for q in asked] == ["miss"] * 20
        # ~4x the store in distinct answers from one key
        filler = "x " * 2000
        for i in range(120):
            assert _ask(hostile, f"{i} {filler}") == "miss"
        assert [_ask(victim, q) for q in asked] == ["hit"] * 20
        # the hostile key still caches, within its share
        assert _ask(hostile, f"119 {filler}") == "hit"


def test_one_owner_keeps_plain_lru_and_an_owner_over_its_share_evicts_itself() -> None:
    async def run() -> None:
        store = MemoryStore(max_bytes=1000, clock=lambda: 0.0)
        for i in range(10):  # one owner: the whole store, coldest out first
            await store.set(f"a{i}", b"v" * 98, 60, "a")
        assert store.owner_bytes("a") == 1000
        await store.set("a10", b"v" * 97, 60, "a")
        assert await store.get("a0") is None and await store.get("a1") is not None
        for i in range(20):  # a second owner takes the cold end until it holds half
            await store.set(f"b{i:02d}", b"v" * 97, 60, "b")
        assert store.owner_bytes("b") <= 500 and store.owner_bytes("a") >= 400
        assert store.size_bytes <= 1000
        assert await store.get("b19") is not None and await store.get("a10") is not None
        held = store.owner_bytes("b")
        await store.set("b-big", b"v" * 700, 60, "b")  # more than its share of a full store
        assert await store.get("b-big") is None  # not kept, and nothing evicted for it
        assert store.owner_bytes("b") == held and store.owner_bytes("a") >= 400
        await store.delete("a10")
        await store.aclose()
        assert len(store) == 0 and store.owner_bytes("a") == 0

    asyncio.run(run())
