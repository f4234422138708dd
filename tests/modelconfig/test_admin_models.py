"""/admin/models: deployments added, changed and removed without a restart."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
from tests.fakes import Fault, start_in_thread
from tests.support import bearer

from lockgate.settings import Settings

Factory = Callable[..., Any]


def chat(model: str) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "hi"}]}


async def test_add_change_remove_without_restart(
    make_settings: Factory, client_for: Factory
) -> None:
    """A posted deployment is listed and routable at once, a PATCH changes it, a DELETE
    stops it (404 afterwards); the file's deployment stays throughout."""
    c: httpx.AsyncClient = await client_for(make_settings())
    assert (
        await c.post("/v1/chat/completions", json=chat("extra"), headers=bearer())
    ).status_code == 404
    r = await c.post(
        "/admin/models",
        json={"model_name": "extra", "params": {"model": "mock/mock-1"}},
        headers=bearer(),
    )
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    assert (
        await c.post("/v1/chat/completions", json=chat("extra"), headers=bearer())
    ).status_code == 200
    listed = (await c.get("/admin/models", headers=bearer())).json()["data"]
    assert {(m["id"], m["source"]) for m in listed} == {("mock#0", "file"), (rid, "api")}
    assert "extra" in {
        m["id"] for m in (await c.get("/v1/models", headers=bearer())).json()["data"]
    }

    r = await c.patch(f"/admin/models/{rid}", json={"params": {"weight": 3}}, headers=bearer())
    assert r.status_code == 200, r.text
    listed = (await c.get("/admin/models", headers=bearer())).json()["data"]
    assert [m["weight"] for m in listed if m["id"] == rid] == [3]

    assert (await c.delete(f"/admin/models/{rid}", headers=bearer())).status_code == 200
    assert (
        await c.post("/v1/chat/completions", json=chat("extra"), headers=bearer())
    ).status_code == 404
    assert (
        await c.post("/v1/chat/completions", json=chat("mock"), headers=bearer())
    ).status_code == 200
    assert (await c.delete(f"/admin/models/{rid}", headers=bearer())).status_code == 404


async def test_bad_entries_and_file_entries_are_refused(
    make_settings: Factory, client_for: Factory
) -> None:
    """An invalid entry is a 400 naming the problem; file entries answer 409; the admin
    API needs the master key."""
    c: httpx.AsyncClient = await client_for(make_settings())
    r = await c.post(
        "/admin/models", json={"model_name": "x", "params": {"model": "nope/x"}}, headers=bearer()
    )
    assert r.status_code == 400
    assert "unknown provider" in r.json()["error"]["message"]
    r = await c.post("/admin/models", json={"model_name": "x", "parms": {}}, headers=bearer())
    assert r.status_code == 400
    r = await c.post("/admin/models", json=[1, 2], headers=bearer())
    assert r.status_code == 400
    r = await c.delete("/admin/models/mock%230", headers=bearer())
    assert r.status_code == 409
    assert "SIGHUP" in r.json()["error"]["message"]
    r = await c.patch("/admin/models/mock%230", json={"params": {"weight": 2}}, headers=bearer())
    assert r.status_code == 409
    r = await c.get("/admin/models", headers=bearer("sk-not-the-master"))
    assert r.status_code in (401, 403)
    assert [m["id"] for m in (await c.get("/admin/models", headers=bearer())).json()["data"]] == [
        "mock#0"
    ]


async def test_breaker_state_of_unchanged_deployments_survives(
    make_settings: Factory, client_for: Factory
) -> None:
    """Adding a deployment leaves the existing deployment's breaker (its call count) as it was."""
    c: httpx.AsyncClient = await client_for(make_settings())
    for _ in range(3):
        await c.post("/v1/chat/completions", json=chat("mock"), headers=bearer())
    r = await c.post(
        "/admin/models",
        json={"model_name": "b", "params": {"model": "mock/mock-1"}},
        headers=bearer(),
    )
    assert r.status_code == 201
    routing = (await c.get("/api/stats", headers=bearer())).json()["routing"]
    assert routing["breakers"]["mock#0"]["calls"] == 3
    assert routing["breakers"][r.json()["id"]]["calls"] == 0


async def test_in_flight_request_keeps_its_route(
    make_settings: Factory, client_for: Factory
) -> None:
    """A request already at the upstream when its deployment is deleted still completes."""
    with start_in_thread() as fake:
        c: httpx.AsyncClient = await client_for(make_settings())
        entry = {
            "model_name": "slow",
            "params": {
                "model": "openai/gpt-4o-mini",
                "api_base": fake.openai_base_url,
                "api_key": "k",
            },
        }
        rid = (await c.post("/admin/models", json=entry, headers=bearer())).json()["id"]
        fake.push_fault(Fault.slow_headers(1.0))
        pending = asyncio.create_task(
            c.post("/v1/chat/completions", json=chat("slow"), headers=bearer(), timeout=30)
        )
        for _ in range(500):  # until the request is at the upstream (10 s at most)
            if fake.requests:
                break
            await asyncio.sleep(0.02)
        assert (await c.delete(f"/admin/models/{rid}", headers=bearer())).status_code == 200
        assert (await pending).status_code == 200
        r = await c.post("/v1/chat/completions", json=chat("slow"), headers=bearer())
        assert r.status_code == 404


async def test_another_process_sees_the_change_through_the_database(
    make_settings: Factory, client_for: Factory
) -> None:
    """Two gateways on one database, no Redis: a model added on A is served by B after
    B's next poll of the change counter (bounded wait, 5 s)."""
    settings: Settings = make_settings()
    fast = settings.model_copy(
        update={"live_models": settings.live_models.model_copy(update={"sync_seconds": 0.2})}
    )
    a: httpx.AsyncClient = await client_for(fast)
    b: httpx.AsyncClient = await client_for(fast)
    r = await a.post(
        "/admin/models",
        json={"model_name": "shared", "params": {"model": "mock/mock-1"}},
        headers=bearer(),
    )
    assert r.status_code == 201
    deadline = time.monotonic() + 5
    status = 0
    while time.monotonic() < deadline:
        status = (
            await b.post("/v1/chat/completions", json=chat("shared"), headers=bearer())
        ).status_code
        if status == 200:
            break
        await asyncio.sleep(0.05)
    assert status == 200
