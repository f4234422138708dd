"""Exact cache and coalescing through the gateway, with real upstreams and real Redis."""

from __future__ import annotations

import asyncio

import httpx
import openai
import pytest
from tests.e2e.conftest import model_list
from tests.fakes import Fault
from tests.support import MASTER, bearer

PATH = "/v1/chat/completions"
DET = {
    "model": "gpt-4o-mini",
    "temperature": 0,
    "messages": [{"role": "user", "content": "capital of France?"}],
}


def post(gw, body=DET, **headers):
    return httpx.post(
        gw.v1 + "/chat/completions", json=body, headers={**bearer(), **headers}, timeout=30
    )


def test_deterministic_request_is_cached(gateway_factory, fake):
    """temperature 0: the second identical request is a hit and costs no upstream call."""
    gw = gateway_factory(model_list(fake))
    first, second = post(gw), post(gw)
    assert first.headers["x-lockgate-cache"] == "miss"
    assert second.headers["x-lockgate-cache"] == "hit"
    assert second.json()["choices"] == first.json()["choices"]
    assert len(fake.requests_to(PATH)) == 1
    stats = httpx.get(gw.url + "/api/stats", headers=bearer()).json()
    assert stats["cache_hits"] == 1 and stats["total_requests"] == 2


def test_sampled_request_is_not_cached(gateway_factory, fake):
    """temperature 0.7 (or unset): never served from cache by default."""
    gw = gateway_factory(model_list(fake))
    body = {**DET, "temperature": 0.7}
    assert post(gw, body).headers["x-lockgate-cache"] == "bypass"
    assert post(gw, body).headers["x-lockgate-cache"] == "bypass"
    assert len(fake.requests_to(PATH)) == 2


def test_every_answer_changing_field_splits_the_cache(gateway_factory, fake):
    """A different max_tokens, tools or system prompt is a different entry."""
    gw = gateway_factory(model_list(fake))
    post(gw)
    post(gw, {**DET, "max_tokens": 2})
    post(gw, {**DET, "messages": [{"role": "system", "content": "Be terse."}, *DET["messages"]]})
    assert len(fake.requests_to(PATH)) == 3
    assert post(gw, {**DET, "max_tokens": 2}).headers["x-lockgate-cache"] == "hit"


def test_cache_control_header_and_body_field(gateway_factory, fake):
    """no-cache skips the read; the body's cache field never reaches the provider."""
    gw = gateway_factory(model_list(fake))
    post(gw)
    assert post(gw, **{"x-lockgate-cache": "no-cache"}).headers["x-lockgate-cache"] != "hit"
    body = {**DET, "cache": {"no_store": True}, "seed": 7}
    post(gw, body)
    assert "cache" not in fake.requests[-1].body
    assert post(gw, {**DET, "seed": 7}).headers["x-lockgate-cache"] == "miss"
    r = post(gw, **{"x-lockgate-cache": "ttl=banana"})
    assert r.status_code == 400


def test_errors_are_not_cached(gateway_factory, fake):
    """An upstream error is never stored: the next request goes upstream again."""
    gw = gateway_factory(model_list(fake), router_settings={"num_retries": 0})
    fake.push_fault(Fault.error(500, path=PATH), times=1)
    assert post(gw).status_code == 502
    r = post(gw)
    assert r.status_code == 200 and r.headers["x-lockgate-cache"] == "miss"


def test_stream_is_replayed_from_cache(gateway_factory, fake):
    """A cached answer is replayed to a streaming client as SSE chunks with usage."""
    gw = gateway_factory(model_list(fake))
    post(gw)
    with openai.OpenAI(base_url=gw.v1, api_key=MASTER, max_retries=0) as client:
        raw = client.chat.completions.with_raw_response.create(
            **DET, stream=True, stream_options={"include_usage": True}
        )
        assert raw.headers["x-lockgate-cache"] == "hit"
        chunks = list(raw.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo: capital of France?"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 4
    assert len(fake.requests_to(PATH)) == 1


def test_truncated_stream_is_not_stored(gateway_factory, fake):
    """A stream cut mid-way is never stored."""
    gw = gateway_factory(model_list(fake), router_settings={"num_retries": 0})
    fake.push_fault(Fault.drop_mid_stream(after_chunks=3, path=PATH), times=1)
    with httpx.stream(
        "POST", gw.v1 + "/chat/completions", json={**DET, "stream": True}, headers=bearer()
    ) as r:
        list(r.iter_lines())
    assert post(gw).headers["x-lockgate-cache"] == "miss"


def test_fifty_concurrent_identical_requests_make_one_upstream_call(gateway_factory, fake):
    """In-flight coalescing: 50 identical concurrent requests, one upstream call, 50 answers."""
    gw = gateway_factory(model_list(fake))
    fake.push_fault(Fault.slow_headers(0.5, path=PATH), times=None)

    async def fire():
        async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=60)) as c:
            return await asyncio.gather(
                *[
                    c.post(gw.v1 + "/chat/completions", json=DET, headers=bearer())
                    for _ in range(50)
                ]
            )

    rs = asyncio.run(fire())
    assert [r.status_code for r in rs] == [200] * 50
    assert {r.json()["choices"][0]["message"]["content"] for r in rs} == {
        "echo: capital of France?"
    }
    assert len(fake.requests_to(PATH)) == 1


def test_concurrent_streams_fan_out_from_one_call(gateway_factory, fake):
    """Identical concurrent streams share one upstream stream, chunk for chunk."""
    gw = gateway_factory(model_list(fake))
    fake.push_fault(Fault.slow_first_chunk(0.5, path=PATH), times=None)

    async def one(c):
        async with c.stream(
            "POST", gw.v1 + "/chat/completions", json={**DET, "stream": True}, headers=bearer()
        ) as r:
            return [line async for line in r.aiter_lines() if line.startswith("data: ")]

    async def fire():
        async with httpx.AsyncClient(timeout=30) as c:
            return await asyncio.gather(*[one(c) for _ in range(10)])

    results = asyncio.run(fire())
    assert all(r[-1] == "data: [DONE]" for r in results)
    assert len({tuple(r) for r in results}) == 1
    assert len(fake.requests_to(PATH)) == 1


def test_leader_failure_reaches_every_follower(gateway_factory, fake):
    """If the shared call fails, every waiting client gets the error promptly, none hangs."""
    gw = gateway_factory(model_list(fake), router_settings={"num_retries": 0})
    fake.push_fault(Fault.error(500, delay=0.5, path=PATH), times=1)

    async def fire():
        async with httpx.AsyncClient(timeout=10) as c:
            return await asyncio.gather(
                *[
                    c.post(gw.v1 + "/chat/completions", json=DET, headers=bearer())
                    for _ in range(10)
                ]
            )

    rs = asyncio.run(fire())
    assert [r.status_code for r in rs] == [502] * 10
    assert len(fake.requests_to(PATH)) == 1


def test_redis_cache_is_shared_between_replicas(gateway_factory, fake, redis_url):
    """Two gateways on one Redis: an answer cached by one is a hit on the other."""
    # A generous op timeout: the default 0.25 s was passed once by the first lookup on a
    # loaded box (a miss where the hit was due), which is not what this test is about.
    sep = "&" if "?" in redis_url else "?"
    cache = {"url": f"{redis_url}{sep}socket_timeout=10"}
    a = gateway_factory(model_list(fake), cache=cache)
    b = gateway_factory(model_list(fake), cache=cache)
    assert post(a).headers["x-lockgate-cache"] == "miss"
    assert post(b).headers["x-lockgate-cache"] == "hit"
    assert len(fake.requests_to(PATH)) == 1


def test_tenants_do_not_share_entries(gateway_factory, fake):
    """Two keys of different teams never see each other's cached answers."""
    gw = gateway_factory(model_list(fake))
    keys = [
        httpx.post(gw.url + "/admin/keys", json={"name": t, "team": t}, headers=bearer()).json()[
            "key"
        ]
        for t in ("red", "blue")
    ]
    for key in keys:
        r = httpx.post(gw.v1 + "/chat/completions", json=DET, headers=bearer(key), timeout=30)
        assert r.headers["x-lockgate-cache"] == "miss"
    assert len(fake.requests_to(PATH)) == 2


def test_cost_saved_is_counted(gateway_factory, fake):
    """A hit costs nothing and adds what it would have cost to the savings, in stats and metrics."""
    gw = gateway_factory(
        model_list(fake, input_cost_per_million=1000.0, output_cost_per_million=2000.0)
    )
    first = post(gw)
    usage = first.json()["usage"]
    expected = (usage["prompt_tokens"] * 1000.0 + usage["completion_tokens"] * 2000.0) / 1e6
    assert float(first.headers["x-lockgate-cost-usd"]) == pytest.approx(expected)
    hit = post(gw)
    assert hit.headers["x-lockgate-cache"] == "hit"
    stats = httpx.get(gw.url + "/api/stats", headers=bearer()).json()
    assert stats["cache_saved_usd"] == pytest.approx(expected)
    assert stats["cost_usd"] == pytest.approx(expected)
    assert stats["models"]["gpt-4o-mini"]["cache_saved_usd"] == pytest.approx(expected)
    metrics = httpx.get(gw.url + "/metrics", headers=bearer()).text
    line = next(x for x in metrics.splitlines() if x.startswith("lockgate_cache_saved_usd_total{"))
    assert float(line.rsplit(" ", 1)[1]) == pytest.approx(expected)
