"""The gateway's callbacks end to end: records and budget alerts reach real receivers."""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from tests.callbacks.receiver import Receiver
from tests.support import MASTER, bearer

from lockgate.app import create_app
from lockgate.settings import Settings, settings_from_mapping

PRICED = {"input_cost_per_million": 1000.0, "output_cost_per_million": 2000.0}
FAST = {"flush_interval_seconds": 0.05, "retry_backoff_seconds": 0.01}


@pytest.fixture()
async def app_client() -> AsyncIterator[Callable[[Settings], Awaitable[httpx.AsyncClient]]]:
    """The real app on ASGI; closed (sinks flushed) by ``close`` or at teardown."""
    managers: list[LifespanManager] = []

    async def open_(settings: Settings) -> httpx.AsyncClient:
        manager = LifespanManager(create_app(settings), startup_timeout=120, shutdown_timeout=120)
        await manager.__aenter__()
        managers.append(manager)
        return httpx.AsyncClient(transport=httpx.ASGITransport(manager.app), base_url="http://gw")

    yield open_
    for m in managers:
        await m.__aexit__(None, None, None)


def settings_with(tmp_path: Path, **sections: Any) -> Settings:
    return settings_from_mapping(
        {
            "model_list": [{"model_name": "priced", "params": {"model": "mock/mock-1", **PRICED}}],
            "general_settings": {
                "database_url": f"sqlite+aiosqlite:///{tmp_path}/gw.db",
                "master_key": MASTER,
            },
            **sections,
        },
        env={},
    )


async def chat(
    client: httpx.AsyncClient, key: str = MASTER, model: str = "priced"
) -> httpx.Response:
    return await client.post(
        "/v1/chat/completions",
        headers=bearer(key),
        json={"model": model, "messages": [{"role": "user", "content": "hello there"}]},
    )


async def test_records_reach_webhook_otel_and_langfuse(tmp_path, receiver: Receiver, app_client):
    """Each request, answered or failed, reaches all three sinks in their formats."""
    settings = settings_with(
        tmp_path,
        callbacks={
            "webhooks": [{"name": "lake", "url": receiver.url + "/hook"}],
            "otel_logs": {"endpoint": receiver.url},
            "langfuse": {"host": receiver.url, "public_key": "pk-lf-1", "secret_key": "sk-lf-1"},
            "delivery": FAST,
        },
    )
    client = await app_client(settings)
    assert (await chat(client)).status_code == 200
    assert (await chat(client)).status_code == 200
    assert (await chat(client, model="nope")).status_code == 404
    await receiver.wait_for(3)
    by_path: dict[str, list[Any]] = {}
    for got in receiver.received:
        by_path.setdefault(got.path, []).append(got)
    while sum(len(_records(p, by_path)) for p in by_path) < 9:
        await receiver.wait_for(len(receiver.received) + 1)
        by_path = {}
        for got in receiver.received:
            by_path.setdefault(got.path, []).append(got)
    hook = _records("/hook", by_path)
    assert [r["status"] for r in hook] == ["success", "success", "failure"]
    assert hook[0]["model_group"] == "priced" and hook[0]["response_cost"] > 0
    logs = _records("/v1/logs", by_path)
    assert [r["severityText"] for r in logs] == ["INFO", "INFO", "WARN"]
    lf = _records("/api/public/ingestion", by_path)
    assert [e["type"] for e in lf].count("generation-create") == 3
    auth = by_path["/api/public/ingestion"][0].headers["Authorization"]
    assert base64.b64decode(auth.removeprefix("Basic ")) == b"pk-lf-1:sk-lf-1"
    wanted = [f'lockgate_callback_sent_total{{sink="{s}"}} 3.0' for s in SINKS]
    for _ in range(200):  # the counter moves once the receiver's answer is read
        page = (await client.get("/metrics", headers=bearer())).text
        if all(w in page for w in wanted):
            break
        await asyncio.sleep(0.02)
    assert all(w in page for w in wanted), [x for x in page.splitlines() if "callback" in x]


SINKS = ("lake", "otel_logs", "langfuse")


def _records(path: str, by_path: dict[str, list[Any]]) -> list[Any]:
    out: list[Any] = []
    for got in by_path.get(path, []):
        body = got.json()
        if path == "/v1/logs":
            out += body["resourceLogs"][0]["scopeLogs"][0]["logRecords"]
        elif path == "/api/public/ingestion":
            out += body["batch"]
        else:
            out += body
    return out


async def test_budget_alerts_once_per_threshold(tmp_path, receiver: Receiver, app_client):
    """A key's budget alerts at 50, 80 and 100 % once each, to Slack and JSON targets;
    its team's larger budget alerts at 50 % only."""
    (tmp_path / "probe").mkdir()
    probe = await app_client(settings_with(tmp_path / "probe"))
    cost = float((await chat(probe)).headers["x-lockgate-cost-usd"])
    assert cost > 0
    settings = settings_with(
        tmp_path,
        limits={"teams": {"a": {"budget": {"day": 30 * cost}}}},
        callbacks={
            "budget_alerts": {
                "targets": [
                    {"url": receiver.url + "/slack", "format": "slack"},
                    {"url": receiver.url + "/json", "format": "webhook"},
                ],
                "thresholds": [0.5, 0.8, 1.0],
            },
            "delivery": FAST,
        },
    )
    client = await app_client(settings)
    created = await client.post(
        "/admin/keys",
        headers=bearer(),
        json={"name": "svc-a", "team": "a", "limits": {"budget": {"day": 20 * cost}}},
    )
    key = created.json()["key"]
    statuses = []
    for _ in range(40):
        status = (await chat(client, key)).status_code
        statuses.append(status)
        if status == 429:
            break
    assert statuses[-1] == 429 and 19 <= statuses.count(200) <= 21
    for _ in range(3):
        assert (await chat(client, key)).status_code == 429  # refused: no new alert
    got = await receiver.wait_for(8)
    slack = [g.json() for g in got if g.path == "/slack"]
    events = [g.json() for g in got if g.path == "/json"]
    assert len(slack) == 4 and len(events) == 4
    key_events = [(e["event"], e["threshold"]) for e in events if e["event_group"] == "key"]
    assert key_events == [
        ("threshold_crossed", 0.5),
        ("threshold_crossed", 0.8),
        ("budget_crossed", 1.0),
    ]
    team = [e for e in events if e["event_group"] == "team"]
    assert [(e["team_id"], e["threshold"]) for e in team] == [("a", 0.5)]
    assert all(e["key_alias"] == "svc-a" for e in events if e["event_group"] == "key")
    texts = [m["text"] for m in slack]
    assert any(re.search(r"key 'svc-a' has reached 50% of its \$", t) for t in texts)
    assert any("key 'svc-a' has used up" in t for t in texts)
    assert all(m["blocks"][0]["type"] == "section" for m in slack)
    assert len(receiver.received) == 8  # nothing sent twice
