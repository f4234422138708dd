"""Rate limits and budgets through the gateway: headers, 429s, replicas, Redis outages."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import yaml
from tests.conftest import free_port
from tests.live_server import spawn_serve, wait_ok
from tests.support import MASTER, bearer

MOCK = [{"model_name": "mock", "params": {"model": "mock/mock-1"}}]
PRICED = [
    {
        "model_name": "mock",
        "params": {
            "model": "mock/mock-1",
            "input_cost_per_million": 1000.0,
            "output_cost_per_million": 1000.0,
        },
    }
]
CHAT = {"model": "mock", "messages": [{"role": "user", "content": "hello"}]}


def chat(gw, key=MASTER, body=CHAT, **headers):
    return httpx.post(
        gw.v1 + "/chat/completions", json=body, headers={**bearer(key), **headers}, timeout=30
    )


def new_key(gw, **fields):
    r = httpx.post(
        gw.url + "/admin/keys", json={"name": "k", **fields}, headers=bearer(), timeout=30
    )
    assert r.status_code == 201, r.text
    return r.json()["key"]


def test_key_request_limit_429_with_openai_headers(gateway_factory):
    """A key limited to 3/minute gets 3 answers then 429 with Retry-After and x-ratelimit-*."""
    gw = gateway_factory(MOCK)
    key = new_key(gw, limits={"requests": "3/minute"})
    first = chat(gw, key)
    assert first.status_code == 200
    assert first.headers["x-ratelimit-limit-requests"] == "3"
    assert first.headers["x-ratelimit-remaining-requests"] == "2"
    assert first.headers["x-ratelimit-reset-requests"].endswith("s")
    assert [chat(gw, key).status_code for _ in range(2)] == [200, 200]
    r = chat(gw, key)
    assert r.status_code == 429
    assert r.json()["error"]["type"] == "rate_limit_error"
    assert "3/minute" in r.json()["error"]["message"]
    assert int(r.headers["retry-after"]) >= 1
    assert r.headers["x-ratelimit-remaining-requests"] == "0"
    # another key is not affected
    assert chat(gw, new_key(gw)).status_code == 200


def test_bad_limits_on_key_creation_are_400(gateway_factory):
    """An unparseable limit is refused when the key is created."""
    gw = gateway_factory(MOCK)
    r = httpx.post(
        gw.url + "/admin/keys",
        json={"name": "k", "limits": {"requests": "3/fortnight"}},
        headers=bearer(),
    )
    assert r.status_code == 400 and r.json()["error"]["param"] == "limits"


def test_token_limit_reserves_then_reconciles(gateway_factory):
    """Token limits reserve prompt + max_tokens, then charge real usage."""
    gw = gateway_factory(MOCK)
    key = new_key(gw, limits={"tokens": "100/minute"})
    # an estimate above the whole limit is refused outright
    big = {**CHAT, "max_tokens": 500}
    r = chat(gw, key, body=big)
    assert r.status_code == 429 and "tokens" in r.json()["error"]["message"]
    ok = chat(gw, key, body={**CHAT, "max_tokens": 60})
    assert ok.status_code == 200
    used = ok.json()["usage"]["total_tokens"]
    # after reconciliation only the real usage is held, not prompt + 60
    r = chat(gw, key, body={**CHAT, "max_tokens": 1})
    assert r.status_code == 200
    remaining = int(r.headers["x-ratelimit-remaining-tokens"])
    assert remaining >= 100 - used - 20  # second request's own estimate, not the first's 60


def test_budget_refuses_after_spend(gateway_factory):
    """A daily budget refuses requests once the spend reaches it."""
    gw = gateway_factory(PRICED)
    key = new_key(gw, limits={"budget": {"day": 0.03}})
    codes = [chat(gw, key).status_code for _ in range(3)]
    assert codes[0] == 200
    assert codes[-1] == 429
    r = chat(gw, key)
    assert r.status_code == 429 and r.json()["error"]["type"] == "insufficient_quota"
    assert "Budget exceeded" in r.json()["error"]["message"]


def test_team_and_user_limits(gateway_factory):
    """Team limits are shared by the team's keys; user limits follow the user field."""
    gw = gateway_factory(
        MOCK,
        limits={"teams": {"alpha": {"requests": "2/minute"}}, "per_user": {"requests": "1/minute"}},
    )
    a, b = new_key(gw, team="alpha"), new_key(gw, team="alpha")
    assert chat(gw, a).status_code == 200 and chat(gw, b).status_code == 200
    assert chat(gw, a).status_code == 429
    other = new_key(gw)
    assert chat(gw, other, body={**CHAT, "user": "ann"}).status_code == 200
    assert chat(gw, other, body={**CHAT, "user": "ann"}).status_code == 429
    assert chat(gw, other, body={**CHAT, "user": "bob"}).status_code == 200
    assert chat(gw, other, **{"x-lockgate-user": "bob"}).status_code == 429


def test_full_limit_state_refuses_new_users_and_keeps_limiting_known_ones(gateway_factory):
    """memory:// holds at most ``memory_max_entries``: once per-user meters fill it, a new
    user gets a 503 limit_state_full (counted on /metrics), while users it holds are still
    limited exactly (nobody's meter is evicted, so nobody gets past a limit)."""
    gw = gateway_factory(MOCK, limits={"per_user": {"requests": "1/hour"}, "memory_max_entries": 3})
    key = new_key(gw)
    for user in ("ann", "bob", "cy"):
        assert chat(gw, key, body={**CHAT, "user": user}).status_code == 200
    r = chat(gw, key, body={**CHAT, "user": "dee"})
    assert r.status_code == 503 and r.json()["error"]["code"] == "limit_state_full"
    assert r.headers["retry-after"] == "1"
    for user in ("ann", "bob", "cy"):
        assert chat(gw, key, body={**CHAT, "user": user}).status_code == 429
    metrics = httpx.get(gw.url + "/metrics", headers=bearer()).text
    assert "lockgate_limit_state_refusals_total 1.0" in metrics
    assert 'lockgate_memory_entries{cache="limit_state"} 3.0' in metrics


def test_concurrency_limit_frees_slots(gateway_factory, fake):
    """Concurrent requests beyond the limit are refused; slots come back afterwards."""
    from tests.e2e.conftest import model_list
    from tests.fakes import Fault

    gw = gateway_factory(model_list(fake), router_settings={"num_retries": 0})
    key = new_key(gw, limits={"concurrent": 2})
    fake.push_fault(Fault.slow_headers(0.5, path="/v1/chat/completions"), times=None)
    body = {"model": "gpt-4o-mini", "messages": CHAT["messages"]}

    async def burst():
        async with httpx.AsyncClient(timeout=30) as c:
            rs = await asyncio.gather(
                *[
                    c.post(gw.v1 + "/chat/completions", json=body, headers=bearer(key))
                    for _ in range(5)
                ]
            )
        return sorted(r.status_code for r in rs)

    assert asyncio.run(burst()) == [200, 200, 429, 429, 429]
    fake.clear_faults()
    assert chat(gw, key, body=body).status_code == 200


@contextmanager
def gateway_processes(tmp_path: Path, count: int, limits: dict) -> Iterator[list[str]]:
    """Start ``count`` gateway processes (real replicas) sharing one config."""
    config = {
        "model_list": MOCK,
        "general_settings": {
            "master_key": MASTER,
            "database_url": f"sqlite+aiosqlite:///{tmp_path}/shared.db",
        },
        "limits": limits,
    }
    path = tmp_path / "replica.yaml"
    path.write_text(yaml.safe_dump(config))
    procs, urls = [], []
    try:
        for i in range(count):
            port = free_port()
            procs.append(spawn_serve(path, port, tmp_path / f"replica{i}.log"))
            urls.append(f"http://127.0.0.1:{port}")
        for i, (url, proc) in enumerate(zip(urls, procs, strict=True)):
            wait_ok(url, "/health", proc=proc, log=tmp_path / f"replica{i}.log")
        yield urls
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=20)


def test_three_replicas_share_one_redis_exactly(tmp_path, redis_url):
    """Three gateway processes on one Redis admit exactly the configured number in total."""
    # a generous Redis timeout: this test is about exactness, not about outages. Per hour:
    # the meter drains continuously, and at 40/minute it frees a request every 1.5 s, so a
    # loaded box that took longer for the 120 requests rightly admitted a 41st.
    limits = {
        "backend": redis_url,
        "timeout_ms": 3000,
        "models": {"mock": {"requests": "40/hour"}},
    }
    with gateway_processes(tmp_path, 3, limits) as urls:

        async def fire():
            async with httpx.AsyncClient(timeout=30) as c:
                rs = await asyncio.gather(
                    *[
                        c.post(urls[i % 3] + "/v1/chat/completions", json=CHAT, headers=bearer())
                        for i in range(120)
                    ]
                )
            return [(r.status_code, r.headers.get("x-lockgate-limits")) for r in rs]

        results = asyncio.run(fire())
    assert [h for _, h in results if h] == []  # Redis answered every time
    codes = [c for c, _ in results]
    assert codes.count(200) == 40
    assert codes.count(429) == 80


def test_redis_outage_fail_open_then_recovers(tmp_path, own_redis, gateway_factory):
    """fail_open: while Redis is down requests pass (degraded); when it returns, limits hold."""
    gw = gateway_factory(
        MOCK,
        limits={
            "backend": own_redis.url,
            "failure_mode": "fail_open",
            "timeout_ms": 100,
            "models": {"mock": {"requests": "2/minute"}},
        },
    )
    assert [chat(gw).status_code for _ in range(3)] == [200, 200, 429]
    own_redis.stop()
    started = time.monotonic()
    r = chat(gw)
    assert r.status_code == 200 and r.headers["x-lockgate-limits"] == "degraded"
    assert time.monotonic() - started < 5
    own_redis.start()  # an empty Redis: the window starts again
    deadline = time.monotonic() + 10
    codes: list[int] = []
    while time.monotonic() < deadline:
        r = chat(gw)
        if "x-lockgate-limits" not in r.headers:
            codes.append(r.status_code)
            if len(codes) == 3:
                break
        time.sleep(0.2)
    assert codes == [200, 200, 429]


def test_redis_outage_fail_closed(tmp_path, own_redis, gateway_factory):
    """fail_closed: while Redis is down requests are refused with 503, quickly."""
    gw = gateway_factory(
        MOCK,
        limits={
            "backend": own_redis.url,
            "failure_mode": "fail_closed",
            "timeout_ms": 100,
            "models": {"mock": {"requests": "100/minute"}},
        },
    )
    assert chat(gw).status_code == 200
    own_redis.stop()
    started = time.monotonic()
    r = chat(gw)
    assert r.status_code == 503 and r.json()["error"]["code"] == "service_unavailable"
    assert time.monotonic() - started < 5
    own_redis.start()
    deadline = time.monotonic() + 10
    while chat(gw).status_code != 200:
        assert time.monotonic() < deadline, "did not recover after Redis came back"
        time.sleep(0.2)
