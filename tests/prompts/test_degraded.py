"""With the database unreachable the last known prompt versions keep serving."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine
from tests.prompts.conftest import fresh_database, gateway_settings

PROMPT = {
    "name": "faq",
    "model": "mock",
    "messages": [{"role": "user", "content": "{{ q }}"}],
    "labels": ["production"],
}


async def lock_out(server_url: str, database: str, refuse: bool) -> None:
    """Refuse (or allow again) new sessions to the database, dropping the open ones."""
    engine = create_async_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            allow = "false" if refuse else "true"
            await conn.execute(sa.text(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS {allow}'))
            if refuse:
                await conn.execute(
                    sa.text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                        " WHERE datname = :d AND pid <> pg_backend_pid()"
                    ),
                    {"d": database},
                )
    finally:
        await engine.dispose()


async def test_database_down_keeps_serving_and_ready_says_degraded(open_gateway, postgres_url):
    """Postgres refusing the gateway: labelled prompts still render, /ready is degraded."""
    url = await fresh_database(postgres_url)
    database = url.rsplit("/", 1)[1]
    gw = await open_gateway(gateway_settings(url, usage={"enabled": False}))
    await gw.post("/admin/prompts", json=PROMPT)
    body = {"prompt": {"name": "faq", "variables": {"q": "hours?"}}}
    assert (await gw.post("/v1/chat/completions", json=body)).status_code == 200
    await lock_out(postgres_url, database, refuse=True)
    try:
        ready = await gw.get("/ready")
        assert ready.status_code == 200
        assert ready.json() == {
            "status": "degraded",
            "checks": {"database": False, "prompts": "stale"},
        }
        r = await gw.post("/v1/chat/completions", json=body)
        assert r.status_code == 200 and r.headers["x-lockgate-prompt"] == "faq@1"
        missing = await gw.post(
            "/v1/chat/completions", json={"prompt": {"name": "faq", "version": 2}}
        )
        assert missing.status_code in (404, 503)
    finally:
        await lock_out(postgres_url, database, refuse=False)
    ready = await gw.get("/ready")
    assert ready.json()["status"] == "ready"
