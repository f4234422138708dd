"""Golden files: recorded requests and answers per provider pair, streamed and not.

Each file in tests/data/golden/ holds a client request, the answer the provider
recorded for it, and what must come out: the exact body sent upstream (Anthropic
``cache_control`` marks with their ``ttl`` kept, or taken off for OpenAI; OpenAI's
``prompt_cache_key`` kept for OpenAI), the usage the client sees (cache reads and
writes in its own wire's names) and the usage row's cost at cached prices.
``LOCKGATE_GOLDEN_UPDATE=1`` rewrites the upstream body and usage (never the cost,
which is worked out by hand in the file).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from tests.promptcache.conftest import replay_models
from tests.support import MASTER, bearer

GOLDEN = Path(__file__).parent.parent / "data" / "golden"
CASES = sorted(p.stem for p in GOLDEN.glob("*.json"))
UPDATE = os.environ.get("LOCKGATE_GOLDEN_UPDATE") == "1"


def _sse(text: str) -> list[tuple[str | None, Any]]:
    out: list[tuple[str | None, Any]] = []
    for block in text.split("\n\n"):
        event, data = None, None
        for line in block.splitlines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data = line[6:]
        if data is not None and data != "[DONE]":
            out.append((event, json.loads(data)))
    return out


def _client_usage(case: dict[str, Any], response: Any) -> dict[str, Any]:
    if not case["stream"]:
        return dict(response.json()["usage"])
    events = _sse(response.text)
    if case["client"] == "openai":
        return next(d["usage"] for _, d in reversed(events) if d.get("usage"))
    usage: dict[str, Any] = {}
    for _, data in events:  # the Anthropic SDK's rule: start's usage, updated by deltas
        if data.get("type") == "message_start":
            usage.update(data["message"]["usage"])
        elif data.get("type") == "message_delta":
            usage.update(data.get("usage") or {})
    return usage


@pytest.mark.parametrize("name", CASES)
async def test_golden_pair(name, replay, open_gateway):
    """The upstream body, the client's usage and the usage row's cost are the recorded ones."""
    path = GOLDEN / f"{name}.json"
    case = json.loads(path.read_text())
    if "upstream_events" in case:
        replay.events = [(e, d) for e, d in case["upstream_events"]]
    else:
        replay.answer = case["upstream_response"]
    gw = await open_gateway(replay_models(replay.base_url))
    if case["client"] == "openai":
        r = await gw.client.post("/v1/chat/completions", headers=bearer(), json=case["request"])
    else:
        headers = {"x-api-key": MASTER, "anthropic-version": "2023-06-01"}
        r = await gw.client.post("/v1/messages", headers=headers, json=case["request"])
    assert r.status_code == 200, r.text
    assert len(replay.requests) == 1
    sent = replay.requests[0]["body"]
    usage = _client_usage(case, r)
    if UPDATE:
        case["expected_upstream_body"] = sent
        case["expected_usage"] = usage
        path.write_text(json.dumps(case, indent=1) + "\n")
    assert sent == case["expected_upstream_body"]
    assert usage == case["expected_usage"]
    rows = await gw.usage_rows()
    assert len(rows) == 1
    assert rows[0]["cost_usd"] == pytest.approx(case["expected_cost_usd"], abs=1e-12)
    assert rows[0]["cached_tokens"] in (1800, 1920)


def test_every_provider_pair_has_a_plain_and_a_streamed_golden():
    """openai/anthropic clients x openai/anthropic/Bedrock (Claude) upstreams, each
    streamed and not (Bedrock: marks as cachePoint blocks)."""
    pairs = {(c["client"], c["upstream"], c["stream"]) for c in map(_load, CASES)}
    assert pairs == {
        (client, upstream, stream)
        for client in ("openai", "anthropic")
        for upstream in ("openai", "anthropic", "bedrock")
        for stream in (False, True)
    }


def _load(name: str) -> dict[str, Any]:
    return json.loads((GOLDEN / f"{name}.json").read_text())
