"""auto_cache and context budgets through the whole gateway, against a fake Anthropic
upstream that simulates its prompt cache (reads, writes, 1,024-token minimum)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from tests.fakes.faults import Fault
from tests.fakes.prompt_cache import blocks_of, shared_prefix_tokens
from tests.fakes.server import FakeUpstream
from tests.support import MASTER, bearer

SYSTEM = "You are the support agent of a parcel company. Follow the policy below.\n" + (
    "Policy: be brief, cite the tracking number, never promise a delivery date. " * 80
)
TURNS = 20


@pytest.fixture()
async def fake() -> AsyncIterator[FakeUpstream]:
    """A fake provider whose Anthropic route keeps a prompt cache."""
    upstream = FakeUpstream(prompt_cache=True)
    await upstream.start()
    yield upstream
    await upstream.stop()


def _models(fake: FakeUpstream) -> list[dict[str, Any]]:
    return [
        {
            "model_name": "claude",
            "params": {
                "model": "anthropic/claude-sonnet-4-5",
                "api_base": fake.base_url,
                "api_key": "sk-ant",
            },
        }
    ]


def _question(turn: int) -> str:
    return f"Question {turn}: where is parcel {1000 + turn}? " + "Details follow. " * 55


async def _chat(gw, *, turns: int, native: bool) -> list[Any]:
    """A growing conversation; every answer goes back into the history."""
    history: list[dict[str, Any]] = []
    answers = []
    for turn in range(turns):
        history.append({"role": "user", "content": _question(turn)})
        if native:
            body = {"model": "claude", "max_tokens": 60, "system": SYSTEM, "messages": history}
            headers = {"x-api-key": MASTER, "anthropic-version": "2023-06-01"}
            r = await gw.client.post("/v1/messages", headers=headers, json=body)
            assert r.status_code == 200, r.text
            text = r.json()["content"][0]["text"]
        else:
            messages = [{"role": "system", "content": SYSTEM}, *history]
            r = await gw.client.post(
                "/v1/chat/completions",
                headers=bearer(),
                json={"model": "claude", "max_tokens": 60, "messages": messages},
            )
            assert r.status_code == 200, r.text
            text = r.json()["choices"][0]["message"]["content"]
        answers.append(r)
        history.append({"role": "assistant", "content": text})
    return answers


def _upstream_bodies(fake: FakeUpstream) -> list[dict[str, Any]]:
    return [r.body for r in fake.requests if r.path == "/v1/messages"]


async def test_auto_cache_marks_unmarked_requests_and_stats_show_savings(fake, open_gateway):
    """Unmarked chats get at most 4 breakpoints; later turns read the earlier prefix and
    /api/stats shows the money saved."""
    gw = await open_gateway(_models(fake), prompt_cache={"auto_cache": ["claude"]})
    await _chat(gw, turns=6, native=False)
    bodies = _upstream_bodies(fake)
    for body in bodies:
        marks = [m for _, _, m in blocks_of(body) if m is not None]
        assert 1 <= len(marks) <= 4
        assert all(m == {"type": "ephemeral"} for m in marks)
    assert isinstance(bodies[0]["system"], list) and "cache_control" in bodies[0]["system"][-1]
    stats = (await gw.client.get("/api/stats", headers=bearer())).json()["prompt_cache"]
    auto = stats["auto_cache"]
    assert auto["requests"] == 6
    assert auto["cache_read_tokens"] > 0.7 * auto["prompt_tokens"]
    assert auto["saved_usd"] > 0
    assert auto["cost_usd"] < auto["cost_without_cache_usd"]


async def test_auto_cache_leaves_client_marks_alone(fake, open_gateway):
    """A native request with its own cache_control goes upstream exactly as written."""
    gw = await open_gateway(_models(fake), prompt_cache={"auto_cache": ["claude"], "ttl": "1h"})
    system = [{"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}]
    body = {
        "model": "claude",
        "max_tokens": 20,
        "system": system,
        "messages": [{"role": "user", "content": "hello"}],
    }
    headers = {"x-api-key": MASTER, "anthropic-version": "2023-06-01"}
    r = await gw.client.post("/v1/messages", headers=headers, json=body)
    assert r.status_code == 200
    sent = _upstream_bodies(fake)[0]
    assert sent["system"] == system and sent["messages"] == body["messages"]
    usage = r.json()["usage"]
    assert usage["cache_creation_input_tokens"] > 1024


async def test_auto_cache_native_one_hour_ttl(fake, open_gateway):
    """A native unmarked request gets marks with the configured ttl, priced as 1h writes."""
    gw = await open_gateway(_models(fake), prompt_cache={"auto_cache": ["claude"], "ttl": "1h"})
    await _chat(gw, turns=1, native=True)
    sent = _upstream_bodies(fake)[0]
    assert sent["system"][-1]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    rows = await gw.usage_rows()
    assert rows[0]["cached_tokens"] == 0
    write = sum(n for _, n, _ in blocks_of(sent))  # the whole prompt is written, for 1h
    price = 3.00 * 2.0  # claude-sonnet-4-5 input at the one-hour write rate
    assert rows[0]["cost_usd"] == pytest.approx(
        (write * price + rows[0]["completion_tokens"] * 15.0) / 1e6
    )


def _cached_share(bodies: list[dict[str, Any]], start: int) -> float:
    """Of the prompt tokens from request ``start`` on, the share each shares with the
    request before it (what a provider's prefix cache can serve)."""
    shared = total = 0
    for prev, body in zip(bodies[start - 1 :], bodies[start:], strict=False):
        shared += shared_prefix_tokens(prev, body)
        total += sum(n for _, n, _ in blocks_of(body))
    return shared / total


def _first_cut(answers: list[Any]) -> int:
    for i, r in enumerate(answers):
        fields = dict(f.split("=") for f in r.headers["x-lockgate-context"].split("; "))
        if int(fields["tokens"]) > int(fields["limit"]):
            return i
    raise AssertionError("the chat never outgrew its budget")


@pytest.mark.parametrize("native", [False, True])
async def test_twenty_turn_chat_keeps_its_prefix_cached_after_cuts(fake, open_gateway, native):
    """Cuts on the stable grid keep >= 80% of prompt tokens a shared prefix once
    truncation starts; the naive middle-out (cut_share 0) falls far below."""
    shares = {}
    for cut_share in (0.5, 0.0):
        fake.reset()
        budget = {
            "max_input_tokens": 4000,
            "strategy": "truncate_middle",
            "cut_share": cut_share,
        }
        gw = await open_gateway(_models(fake), context={"aliases": {"claude": budget}})
        answers = await _chat(gw, turns=TURNS, native=native)
        start = _first_cut(answers)
        assert 3 <= start <= TURNS - 8
        bodies = _upstream_bodies(fake)
        assert len(bodies) == TURNS
        for body in bodies:  # never over budget, head kept, last turn kept
            assert sum(n for _, n, _ in blocks_of(body)) <= 4000 * 1.15
            first = body["messages"][0]["content"]
            assert "Question 0:" in str(first)
        shares[cut_share] = _cached_share(bodies, start)
    assert shares[0.5] >= 0.8
    assert shares[0.0] < 0.6


async def test_kept_head_share_keeps_the_opening_turns_through_cuts(fake, open_gateway):
    """keep_head_share keeps the opening turns that fit in that share of the budget on
    every cut request (not only the first exchange), and they stay a cached prefix."""
    budget = {
        "max_input_tokens": 4000,
        "strategy": "truncate_middle",
        "cut_share": 0.5,
        "keep_head_share": 0.6,
    }
    gw = await open_gateway(_models(fake), context={"aliases": {"claude": budget}})
    answers = await _chat(gw, turns=TURNS, native=False)
    start = _first_cut(answers)
    bodies = _upstream_bodies(fake)
    cut_bodies = bodies[start:]
    assert len(cut_bodies) >= 8
    for body in cut_bodies:
        text = str(body["messages"])
        # system ~1,500 tokens + two exchanges fit in 0.6 x 4,000; a third does not
        assert "Question 0:" in text and "Question 1:" in text
        assert sum(n for _, n, _ in blocks_of(body)) <= 4000 * 1.15
    assert _cached_share(bodies, start) >= 0.8


async def test_error_strategy_refuses_an_overlong_prompt(fake, open_gateway):
    """strategy: error is a 400 context_length_exceeded, and nothing goes upstream."""
    budget = {"max_input_tokens": 500, "strategy": "error"}
    gw = await open_gateway(_models(fake), context={"aliases": {"claude": budget}})
    r = await gw.client.post(
        "/v1/chat/completions",
        headers=bearer(),
        json={"model": "claude", "messages": [{"role": "user", "content": SYSTEM}]},
    )
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "context_length_exceeded"
    assert _upstream_bodies(fake) == []


@pytest.mark.parametrize("budget_tokens", [100_000, 3000])
async def test_native_request_stays_native_cut_or_not(fake, open_gateway, budget_tokens):
    """A /v1/messages body under budget goes up as written; a cut one keeps its own
    fields (thinking, metadata) and loses only whole middle turns."""
    budget = {"max_input_tokens": budget_tokens, "strategy": "truncate_middle", "compress": True}
    gw = await open_gateway(_models(fake), context={"aliases": {"claude": budget}})
    messages: list[dict[str, Any]] = []
    for turn in range(10):
        messages += [
            {"role": "user", "content": _question(turn).strip()},  # nothing to compress
            {"role": "assistant", "content": f"answer {turn}"},
        ]
    messages.append({"role": "user", "content": "last"})
    body = {
        "model": "claude",
        "max_tokens": 2000,
        "system": SYSTEM,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "metadata": {"user_id": "u1"},
        "messages": messages,
    }
    headers = {"x-api-key": MASTER, "anthropic-version": "2023-06-01"}
    r = await gw.client.post("/v1/messages", headers=headers, json=body)
    assert r.status_code == 200, r.text
    sent = _upstream_bodies(fake)[0]
    assert sent["thinking"] == body["thinking"] and sent["metadata"] == body["metadata"]
    if budget_tokens == 100_000:
        assert sent["messages"] == messages
    else:
        kept = sent["messages"]
        assert kept[:2] == messages[:2] and kept[-1] == messages[-1]
        assert len(kept) < len(messages) and kept[2]["role"] == "user"


async def test_auto_cache_marks_never_reach_an_openai_fallback(fake, open_gateway):
    """Claude fails, the request falls back to an OpenAI alias: no cache_control there."""
    models = [
        *_models(fake),
        {
            "model_name": "gpt",
            "params": {
                "model": "openai/gpt-4o-mini",
                "api_base": fake.openai_base_url,
                "api_key": "sk-oai",
            },
        },
    ]
    gw = await open_gateway(
        models,
        prompt_cache={"auto_cache": ["claude"]},
        router_settings={"num_retries": 0, "fallbacks": [{"claude": ["gpt"]}]},
    )
    fake.push_fault(Fault.error(529, path="/v1/messages"))
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "hi"}]
    r = await gw.client.post(
        "/v1/chat/completions", headers=bearer(), json={"model": "claude", "messages": messages}
    )
    assert r.status_code == 200, r.text
    sent = next(q.body for q in fake.requests if q.path.endswith("/chat/completions"))
    assert "cache_control" not in str(sent) and sent["messages"] == messages
