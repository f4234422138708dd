"""Operations in outages: /ready while Redis is down, the key store down, who reads metrics."""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
import time
from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine
from tests.conftest import PostgresServer, free_port
from tests.support import MASTER, bearer

MOCK = [{"model_name": "mock", "params": {"model": "mock/mock-1"}}]
CHAT = {"model": "mock", "messages": [{"role": "user", "content": "hello"}]}
DEADLINE = 15.0


def wait_for(check, what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def ready(gw) -> httpx.Response:
    return httpx.get(gw.url + "/ready", timeout=10)


def test_ready_reports_a_redis_outage_once(own_redis, gateway_factory, caplog):
    """/ready says degraded while Redis is down; one log line and one count per outage."""
    gw = gateway_factory(MOCK, general_settings={"redis_url": own_redis.url})
    assert ready(gw).json()["status"] == "ready"
    with caplog.at_level(logging.WARNING, logger="lockgate.health"):
        own_redis.stop()
        wait_for(lambda: ready(gw).json()["status"] == "degraded", "never degraded")
        r = ready(gw)
        checks = r.json()["checks"]
        assert r.status_code == 200 and (checks["database"], checks["redis"]) == (True, False)
        time.sleep(2.5)  # several probe intervals into the outage
        own_redis.start()
        wait_for(lambda: ready(gw).json()["status"] == "ready", "never recovered")
    lines = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "lockgate.health"]
    assert [level for level, _ in lines] == ["ERROR", "WARNING"], lines
    metrics = httpx.get(gw.url + "/metrics", headers=bearer(), timeout=10).text
    assert 'lockgate_dependency_outages_total{dependency="redis"} 1.0' in metrics
    assert 'lockgate_dependency_up{dependency="redis"} 1.0' in metrics


def test_fail_closed_503_carries_retry_after(own_redis, gateway_factory):
    """With limits failing closed, the 503 during a Redis outage tells when to retry."""
    gw = gateway_factory(
        MOCK,
        limits={
            "backend": own_redis.url,
            "failure_mode": "fail_closed",
            "timeout_ms": 100,
            "models": {"mock": {"requests": "100/minute"}},
        },
    )
    own_redis.stop()
    r = httpx.post(gw.v1 + "/chat/completions", json=CHAT, headers=bearer(), timeout=10)
    assert r.status_code == 503 and int(r.headers["retry-after"]) >= 1


@pytest.fixture()
def own_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server of this test's own, to stop and resume."""
    workdir = tempfile.mkdtemp(prefix="lockgate-pg-own-")
    server = PostgresServer(free_port(), workdir)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def audit_rows(url: str, request_id: str) -> list[str]:
    async def go() -> list[str]:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                rows = await conn.execute(
                    sa.text("SELECT record FROM audit_log WHERE request_id = :rid"),
                    {"rid": request_id},
                )
                return [row[0] for row in rows]
        finally:
            await engine.dispose()

    return asyncio.run(go())


def test_uncached_key_with_the_database_down_is_503_and_audited_later(
    own_postgres, gateway_factory
):
    """A key not in cache while the DB is down: 503 + Retry-After; its audit row lands later."""
    gw = gateway_factory(MOCK, general_settings={"database_url": own_postgres.url})
    made = httpx.post(gw.url + "/admin/keys", json={"name": "t"}, headers=bearer(), timeout=10)
    key = made.json()["key"]
    own_postgres.stop()
    try:
        r = httpx.post(gw.v1 + "/chat/completions", json=CHAT, headers=bearer(key), timeout=30)
        assert r.status_code == 503, r.text
        assert int(r.headers["retry-after"]) >= 1
        assert r.json()["error"]["code"] == "key_store_unavailable"
        request_id = r.headers["x-request-id"]
        # the master key needs no lookup: the gateway still serves it
        ok = httpx.post(gw.v1 + "/chat/completions", json=CHAT, headers=bearer(), timeout=30)
        assert ok.status_code == 200
    finally:
        own_postgres.resume()
    wait_for(lambda: len(audit_rows(own_postgres.url, request_id)) == 1, "no audit row")
    assert '"status":503' in audit_rows(own_postgres.url, request_id)[0].replace(" ", "")


@pytest.mark.parametrize("path", ["/metrics", "/api/stats"])
def test_metrics_and_stats_need_the_master_key(gateway_factory, path):
    """A virtual key may not read pages that name other keys; the master key may."""
    gw = gateway_factory(MOCK)
    made = httpx.post(gw.url + "/admin/keys", json={"name": "t"}, headers=bearer(), timeout=10)
    virtual = made.json()["key"]
    denied = httpx.get(gw.url + path, headers=bearer(virtual), timeout=10)
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "admin_only"
    assert httpx.get(gw.url + path, headers=bearer(MASTER), timeout=10).status_code == 200


def test_metrics_listener_serves_prometheus_without_a_key(gateway_factory):
    """server.http.metrics_port: /metrics without a key there, master key still on the main port."""
    port = free_port()
    gw = gateway_factory(MOCK, server={"http": {"metrics_port": port}})
    assert httpx.post(gw.v1 + "/chat/completions", json=CHAT, headers=bearer()).status_code == 200
    page = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    assert page.status_code == 200 and "lockgate_requests_total" in page.text
    assert httpx.get(gw.url + "/metrics", timeout=10).status_code == 401
