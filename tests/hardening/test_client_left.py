"""A client that hangs up before the first token is still charged the prompt the upstream
read: in its usage row and against its key's token limit.

Before: a request the client left while the upstream was working on it (a stream before
its first chunk, a plain request before its answer) was recorded with 0 tokens and $0,
and the limits stage refunded its whole reservation. The provider bills the prompt it
read all the same, so a caller could send large prompts, hang up before the first token
and never reach its token limit or budget, at the operator's expense.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import anthropic
import httpx
import openai
import pytest
from tests.e2e.conftest import GatewayFactory, model_list
from tests.fakes import Fault, ThreadedFake
from tests.hardening.conftest import usage_rows
from tests.live_server import LiveGateway
from tests.support import bearer

#: about 2,500 estimated prompt tokens; the key may use 4,000 an hour
PROMPT = " ".join(f"word{i}" for i in range(1200))
LIMIT = "4000/hour"


def _key(gw: LiveGateway) -> str:
    r = httpx.post(
        gw.url + "/admin/keys",
        json={"name": "hangs-up", "limits": {"tokens": LIMIT}},
        headers=bearer(),
        timeout=30,
    )
    r.raise_for_status()
    return str(r.json()["key"])


def _leave(gw: LiveGateway, key: str, api: str, stream: bool) -> None:
    """One request through the official SDK whose client gives up after 0.5 s."""
    client: Any
    if api == "openai":
        client = openai.OpenAI(base_url=gw.v1, api_key=key, max_retries=0, timeout=0.5)
        create, model, timeout = (
            client.chat.completions.create,
            "gpt-4o-mini",
            openai.APITimeoutError,
        )
    else:
        client = anthropic.Anthropic(base_url=gw.url, api_key=key, max_retries=0, timeout=0.5)
        create, model, timeout = client.messages.create, "claude-haiku", anthropic.APITimeoutError
    with client, pytest.raises(timeout):
        out = create(
            model=model,
            messages=[{"role": "user", "content": PROMPT}],
            max_tokens=16,
            stream=stream,
        )
        if stream:
            list(out)


def _rows_for(gw: LiveGateway, status: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 60  # rows are written in the background
    while True:
        every = asyncio.run(usage_rows(gw.settings.general_settings.database_url))
        rows = [r for r in every if r["status"] == status]
        if rows or time.monotonic() > deadline:
            return rows
        time.sleep(0.2)


@pytest.mark.parametrize(
    ("api", "stream", "fault"),
    [
        ("openai", True, "slow_first_chunk"),  # the stream opened, no chunk yet
        ("openai", False, "slow_headers"),  # a plain request the upstream works on
        ("anthropic", True, "slow_first_chunk"),
        ("anthropic", False, "slow_headers"),
    ],
)
def test_a_client_that_leaves_before_the_first_token_pays_for_its_prompt(
    fake: ThreadedFake, gateway_factory: GatewayFactory, api: str, stream: bool, fault: str
) -> None:
    gw = gateway_factory(model_list(fake), router_settings={"num_retries": 0})
    key = _key(gw)
    slow = Fault.slow_first_chunk(5) if fault == "slow_first_chunk" else Fault.slow_headers(5)
    fake.push_fault(slow, times=1)
    _leave(gw, key, api, stream)

    rows = _rows_for(gw, 499)
    assert len(rows) == 1, rows
    row = rows[0]
    assert row["prompt_tokens"] > 1500, row  # the prompt's estimate, not 0
    assert row["completion_tokens"] == 0 and row["cost_usd"] > 0, row
    assert row["attempts"] == 1, row

    # the same prompt again no longer fits the key's hourly tokens: the first was charged
    r = httpx.post(
        gw.v1 + "/chat/completions",
        json={
            "model": "gpt-4o-mini",
            "max_tokens": 16,
            "messages": [{"role": "user", "content": PROMPT}],
        },
        headers=bearer(key),
        timeout=30,
    )
    assert r.status_code == 429, r.text
    assert "tokens" in r.json()["error"]["message"]
