"""Coalescing across replicas: two ResponseCaches with their own Coalescers share one Redis."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest
import redis.asyncio as aioredis
from tests.cache.cache_samples import text_completion

from lockgate.cache import (
    CacheStore,
    Coalescer,
    RemoteFlights,
    ResponseCache,
    create_cache_store,
)
from lockgate.chat import ChatRequest, ChatResponse
from lockgate.errors import UpstreamOverloadedError


class Upstream:
    """A gated upstream shared by both replicas, counting calls."""

    def __init__(self) -> None:
        self.calls = 0
        self.gate = asyncio.Event()
        self.fail_first = False

    async def __call__(self) -> ChatResponse:
        self.calls += 1
        await self.gate.wait()
        if self.fail_first and self.calls == 1:
            raise UpstreamOverloadedError("overloaded")
        return ChatResponse(text_completion(f"answer {self.calls}"))


class Claims:
    """The real store, seen from the test: it signals each replica's claim attempt, so a
    test waits for "A leads, B waits" instead of sleeping and hoping (a fixed 50 ms pause
    let B claim first on a loaded box)."""

    def __init__(self, inner: CacheStore) -> None:
        self._inner = inner
        self.won = asyncio.Event()
        self.lost = asyncio.Event()

    async def add(self, key: str, value: bytes, ttl: float) -> bool:
        added = await self._inner.add(key, value, ttl)
        (self.won if added else self.lost).set()
        return added

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


#: bound on each wait: a test process at low priority beside benchmarks at high priority
#: can get no CPU for seconds (5 s timed out in a full check)
WAIT = 60


async def signalled(event: asyncio.Event) -> None:
    async with asyncio.timeout(WAIT):
        await event.wait()


def replica(claims: Claims) -> ResponseCache:
    """One gateway replica's cache service."""
    store = cast(CacheStore, claims)
    return ResponseCache(
        store=store,
        wall_clock=time.time,
        coalescer=Coalescer(),
        remote=RemoteFlights(store, lease=5.0, poll=0.01, max_wait=5.0),
    )


@pytest.fixture()
async def stores(redis_url: str) -> AsyncIterator[tuple[Claims, Claims]]:
    """Two stores (two connection pools) on the same Redis, as two replicas have."""
    a, b = Claims(create_cache_store(redis_url)), Claims(create_cache_store(redis_url))
    try:
        yield a, b
    finally:
        await a.aclose()
        await b.aclose()


REQUEST = ChatRequest(
    "fast", {"model": "fast", "messages": [{"role": "user", "content": "hi"}], "temperature": 0}
)


async def test_second_replica_waits_for_the_first(
    stores: tuple[Claims, Claims],
) -> None:
    """Replica B gets replica A's answer without calling upstream itself."""
    a, b = replica(stores[0]), replica(stores[1])
    upstream = Upstream()
    task_a = asyncio.create_task(a.complete(a.plan(REQUEST, alias="fast"), upstream))
    await signalled(stores[0].won)
    task_b = asyncio.create_task(b.complete(b.plan(REQUEST, alias="fast"), upstream))
    await signalled(stores[1].lost)
    upstream.gate.set()
    async with asyncio.timeout(WAIT):
        (resp_a, res_a), (resp_b, res_b) = await asyncio.gather(task_a, task_b)
    assert upstream.calls == 1
    assert resp_a.body == resp_b.body
    assert (res_a.coalesced, res_b.coalesced) == (False, True)


async def test_leader_failure_lets_the_other_replica_call(
    stores: tuple[Claims, Claims],
) -> None:
    """When the leading replica fails, the waiting one calls upstream itself."""
    a, b = replica(stores[0]), replica(stores[1])
    upstream = Upstream()
    upstream.fail_first = True
    task_a = asyncio.create_task(a.complete(a.plan(REQUEST, alias="fast"), upstream))
    await signalled(stores[0].won)
    task_b = asyncio.create_task(b.complete(b.plan(REQUEST, alias="fast"), upstream))
    await signalled(stores[1].lost)
    upstream.gate.set()
    async with asyncio.timeout(WAIT):
        results = await asyncio.gather(task_a, task_b, return_exceptions=True)
    assert isinstance(results[0], UpstreamOverloadedError)
    assert not isinstance(results[1], BaseException)
    assert results[1][0].text == "answer 2"
    assert upstream.calls == 2


async def test_stale_claim_blocks_only_until_its_lease_ends(
    stores: tuple[Claims, Claims], redis_url: str
) -> None:
    """A claim left by a dead replica expires and the waiting replica then calls itself."""
    b = replica(stores[1])
    plan = b.plan(REQUEST, alias="fast")
    raw = aioredis.Redis.from_url(redis_url)
    try:
        await raw.set("lockgate:cache:v1:" + RemoteFlights.claim_key(plan.key), b"1", px=200)
    finally:
        await raw.aclose()
    upstream = Upstream()
    upstream.gate.set()
    async with asyncio.timeout(WAIT):
        response, result = await b.complete(plan, upstream)
    assert upstream.calls == 1
    assert response.text == "answer 1"
    assert not result.coalesced
