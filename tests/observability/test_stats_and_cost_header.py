"""/api/stats rates and percentiles after a known mix, and the x-lockgate-cost-usd header."""

from __future__ import annotations

import pytest
from tests.observability.conftest import PRICED
from tests.support import MASTER, bearer

COST = "x-lockgate-cost-usd"


def _price(usage: dict[str, int]) -> float:
    return (
        usage["prompt_tokens"] * PRICED["input_cost_per_million"]
        + usage["completion_tokens"] * PRICED["output_cost_per_million"]
    ) / 1e6


async def _stream(gw, text: str) -> None:
    r = await gw.client.post(
        "/v1/chat/completions",
        headers=bearer(),
        json={
            "model": "priced",
            "stream": True,
            "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": text}],
        },
    )
    assert r.status_code == 200
    assert COST not in r.headers  # usage is unknown when a stream's headers go out


async def test_stats_rates_and_percentiles_for_known_mix(make_settings, open_gateway):
    """2 cache hits and 1 refusal out of 7: exact rates, counts and ordered percentiles."""
    gw = await open_gateway(make_settings())
    made = await gw.client.post(
        "/admin/keys", headers=bearer(), json={"name": "free-only", "models": ["free"]}
    )
    narrow = made.json()["key"]
    answers = [
        await gw.chat("priced", "alpha words", temperature=0),
        await gw.chat("priced", "alpha words", temperature=0),
        await gw.chat("priced", "alpha words", temperature=0),
        await gw.chat("priced", "beta words", temperature=0),
    ]
    assert [a.headers["x-lockgate-cache"] for a in answers] == ["miss", "hit", "hit", "miss"]
    refused = await gw.chat("priced", "not allowed", key=narrow)
    assert refused.status_code == 403
    await _stream(gw, "stream one")
    await _stream(gw, "stream two")

    r = await gw.client.get("/api/stats", headers=bearer())
    assert r.status_code == 200
    stats = r.json()
    m = stats["models"]["priced"]
    assert (m["requests"], m["errors"], m["cache_hits"]) == (7, 1, 2)
    assert m["success_rate"] == pytest.approx(6 / 7)
    assert m["cache_hit_rate"] == pytest.approx(2 / 7)
    assert (stats["total_requests"], stats["errors"], stats["cache_hits"]) == (7, 1, 2)
    assert stats["success_rate"] == pytest.approx(6 / 7)
    assert stats["error_rate"] == pytest.approx(1 / 7)
    assert stats["cache_hit_rate"] == pytest.approx(2 / 7)

    lat = m["latency_ms"]
    assert lat["samples"] == 7
    assert 0 <= lat["p50"] <= lat["p95"] <= lat["p99"]
    ttft = m["ttft_ms"]
    assert ttft["samples"] == 2
    assert 0 <= ttft["p50"] <= ttft["p95"] <= ttft["p99"]


async def test_stats_cost_counts_misses_only(make_settings, open_gateway):
    """Per-model cost in /api/stats is the sum of the miss headers; hits add nothing."""
    gw = await open_gateway(make_settings())
    miss = await gw.chat("priced", "cost me", temperature=0)
    hit = await gw.chat("priced", "cost me", temperature=0)
    other = await gw.chat("priced", "cost me too, with more words", temperature=0)
    assert hit.headers["x-lockgate-cache"] == "hit"
    stats = (await gw.client.get("/api/stats", headers=bearer())).json()
    want = _price(miss.json()["usage"]) + _price(other.json()["usage"])
    assert stats["models"]["priced"]["cost_usd"] == pytest.approx(want, abs=1e-8)
    assert stats["cost_usd"] == pytest.approx(want, abs=1e-8)
    tokens = miss.json()["usage"]["prompt_tokens"] * 2 + other.json()["usage"]["prompt_tokens"]
    assert stats["models"]["priced"]["prompt_tokens"] == tokens


async def test_cost_header_is_tokens_times_price(make_settings, open_gateway):
    """On a priced alias the header is (prompt * input + completion * output) / 1e6, 8 places."""
    gw = await open_gateway(make_settings())
    r = await gw.chat("priced", "how much does this cost, exactly?")
    assert r.status_code == 200
    usage = r.json()["usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert r.headers[COST] == f"{_price(usage):.8f}"
    assert float(r.headers[COST]) > 0


async def test_cost_header_zero_on_cache_hit(make_settings, open_gateway):
    """A cache hit reports its usage but costs nothing: the header reads 0.00000000."""
    gw = await open_gateway(make_settings())
    miss = await gw.chat("priced", "cache this answer", temperature=0)
    hit = await gw.chat("priced", "cache this answer", temperature=0)
    assert (miss.headers["x-lockgate-cache"], hit.headers["x-lockgate-cache"]) == ("miss", "hit")
    assert float(miss.headers[COST]) == pytest.approx(_price(miss.json()["usage"]), abs=1e-8)
    assert hit.json()["usage"] == miss.json()["usage"]
    assert hit.headers[COST] == "0.00000000"


async def test_cost_header_zero_for_free_alias_and_absent_on_error(make_settings, open_gateway):
    """An alias priced at zero reads 0.00000000; a refused request carries no cost header."""
    gw = await open_gateway(make_settings())
    free = await gw.chat("free", "no price here")
    assert free.headers[COST] == "0.00000000"
    unknown = await gw.chat("no-such-model", "x")
    assert unknown.status_code == 404
    assert COST not in unknown.headers


async def test_anthropic_route_costs_like_openai(make_settings, open_gateway):
    """/v1/messages on a priced alias: header = tokens * price, and /admin/usage agrees."""
    gw = await open_gateway(make_settings())
    r = await gw.client.post(
        "/v1/messages",
        headers={"x-api-key": MASTER, "anthropic-version": "2023-06-01"},
        json={
            "model": "priced",
            "max_tokens": 50,
            "messages": [{"role": "user", "content": "hello from the anthropic side"}],
        },
    )
    assert r.status_code == 200
    u = r.json()["usage"]
    want = _price({"prompt_tokens": u["input_tokens"], "completion_tokens": u["output_tokens"]})
    assert r.headers[COST] == f"{want:.8f}"
    report = await gw.client.get("/admin/usage", params={"group_by": "model"}, headers=bearer())
    (row,) = report.json()["rows"]
    assert (row["prompt_tokens"], row["completion_tokens"]) == (
        u["input_tokens"],
        u["output_tokens"],
    )
    assert row["cost_usd"] == pytest.approx(want, abs=1e-8)
