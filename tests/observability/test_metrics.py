"""/metrics after known traffic: exact counts, sums and label sets."""

from __future__ import annotations

import pytest
from tests.observability.scrape import samples, total, value
from tests.support import bearer

from lockgate.metrics import Metrics

REQ = "lockgate_requests_total"
M = "gen_ai_request_model"
S = "gen_ai_system"


async def _stream(gw, model: str, text: str) -> str:
    r = await gw.client.post(
        "/v1/chat/completions",
        headers=bearer(),
        json={
            "model": model,
            "stream": True,
            "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": text}],
        },
    )
    assert r.status_code == 200
    return r.text


async def test_counts_after_known_traffic(make_settings, open_gateway):
    """Requests by model/provider/key/status/cache, tokens, cost and rejections add up exactly."""
    gw = await open_gateway(make_settings())
    answers = [await gw.chat("priced", f"question number {i}") for i in range(3)]
    for _ in range(2):
        await _stream(gw, "priced", "stream me")
    miss = await gw.chat("free", "same words", temperature=0)
    hit = await gw.chat("free", "same words", temperature=0)
    unknown = await gw.chat("no-such-model", "x")
    created = await gw.client.post(
        "/admin/keys", headers=bearer(), json={"name": "lim", "limits": {"requests": "1/minute"}}
    )
    key = created.json()["key"]
    ok = await gw.chat("priced", "limited", key=key)
    limited = await gw.chat("priced", "limited", key=key)
    assert [r.status_code for r in (miss, hit, unknown, ok, limited)] == [200, 200, 404, 200, 429]
    assert hit.headers["x-lockgate-cache"] == "hit"

    page = samples(await gw.metrics())
    master = {"key": "master"}
    assert (
        value(page, REQ, **{M: "priced", S: "mock", "status": "200", "cache": "bypass"}, **master)
        == 5
    )
    assert (
        value(page, REQ, **{M: "free", S: "mock", "status": "200", "cache": "miss"}, **master) == 1
    )
    assert (
        value(page, REQ, **{M: "free", S: "none", "status": "200", "cache": "hit"}, **master) == 1
    )
    assert (
        value(page, REQ, **{M: "(unknown)", S: "none", "status": "404", "cache": "none"}, **master)
        == 1
    )
    assert (
        value(
            page, REQ, **{M: "priced", S: "mock", "status": "200", "cache": "bypass", "key": "lim"}
        )
        == 1
    )
    assert (
        value(page, REQ, **{M: "priced", S: "none", "status": "429", "cache": "none", "key": "lim"})
        == 1
    )
    assert total(page, REQ) == 10

    duration = "gen_ai_client_operation_duration_seconds_count"
    assert total(page, duration) == 10
    assert value(page, duration, **{M: "priced", S: "mock", "gen_ai_operation_name": "chat"}) == 6
    assert total(page, "lockgate_gateway_overhead_seconds_count") == 10
    assert total(page, "lockgate_upstream_duration_seconds_count") == 7
    assert total(page, "gen_ai_server_time_to_first_token_seconds_count") == 2
    assert (
        value(page, "gen_ai_server_time_to_first_token_seconds_count", **{M: "priced", S: "mock"})
        == 2
    )
    assert total(page, "lockgate_output_tokens_per_second_count") == 7
    assert value(page, "lockgate_inflight_requests") == 0
    reject = {M: "priced", "key": "lim", "reason": "rate_limit_exceeded"}
    assert value(page, "lockgate_limit_rejections_total", **reject) == 1

    # Tokens: the non-streamed answers' usage, exactly.
    prompt = sum(r.json()["usage"]["prompt_tokens"] for r in answers)
    completion = sum(r.json()["usage"]["completion_tokens"] for r in answers)
    tok = "gen_ai_client_token_usage_sum"
    stream_in = value(page, tok, **{M: "priced", S: "mock", "gen_ai_token_type": "input"}) - prompt
    stream_out = (
        value(page, tok, **{M: "priced", S: "mock", "gen_ai_token_type": "output"}) - completion
    )
    ok_usage = ok.json()["usage"]
    # the two identical streams and the limited key's answer make up the rest
    assert stream_in - ok_usage["prompt_tokens"] > 0
    assert (stream_in - ok_usage["prompt_tokens"]) % 2 == 0
    assert (stream_out - ok_usage["completion_tokens"]) % 2 == 0
    assert (
        value(
            page,
            "gen_ai_client_token_usage_count",
            **{M: "free", S: "none", "gen_ai_token_type": "input"},
        )
        == 1
    )

    # Cost: the counter equals the per-response header (1000/2000 USD per million).
    header_cost = sum(float(r.headers["x-lockgate-cost-usd"]) for r in answers)
    expected = sum(
        (r.json()["usage"]["prompt_tokens"] * 1000 + r.json()["usage"]["completion_tokens"] * 2000)
        / 1e6
        for r in answers
    )
    assert header_cost == pytest.approx(expected)
    assert value(page, "lockgate_cost_usd_total", **{M: "priced", "key": "lim"}) == pytest.approx(
        float(ok.headers["x-lockgate-cost-usd"])
    )
    assert value(page, "lockgate_cost_usd_total", **{M: "free", "key": "master"}) == 0
    assert float(hit.headers["x-lockgate-cost-usd"]) == 0.0


async def test_breaker_and_guard_series_and_names():
    """Breaker state is a gauge per deployment; guard verdicts from ctx.notes are counted."""
    m = Metrics()
    m.state_changed("gpt#0", "closed", "open", 0.0)
    m.state_changed("gpt#0", "open", "half_open", 1.0)
    page = samples(m.render().decode())
    assert value(page, "lockgate_breaker_state", deployment="gpt#0") == 1
    assert value(page, "lockgate_breaker_transitions_total", deployment="gpt#0", to="open") == 1


async def test_guard_verdicts_counted(make_settings, open_gateway):
    """Guard verdicts noted in ctx.notes["guards"] are counted per guard and verdict."""
    from lockgate.auth.keys import Principal
    from lockgate.context import RequestContext

    m = Metrics()
    ctx = RequestContext(
        request_id="r1", principal=Principal(kind="master", name="master"), api="openai"
    )
    ctx.notes["guards"] = {"pii": "redact", "injection": "pass"}
    m.observe(ctx, "x", 200, 0.01, ctx.started + 0.01)
    ctx2 = RequestContext(
        request_id="r2", principal=Principal(kind="master", name="master"), api="openai"
    )
    ctx2.notes["guards"] = {"injection": "block"}
    m.observe(ctx2, "x", 400, 0.01, ctx2.started + 0.01)
    page = samples(m.render().decode())
    assert value(page, "lockgate_guard_verdicts_total", guard="pii", verdict="redact") == 1
    assert value(page, "lockgate_guard_verdicts_total", guard="injection", verdict="pass") == 1
    assert value(page, "lockgate_guard_verdicts_total", guard="injection", verdict="block") == 1
    assert total(page, "lockgate_requests_total") == 2
