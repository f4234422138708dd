"""Fixtures for the audit log: a migrated SQLite database, records, and gateways."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from asgi_lifespan import LifespanManager
from sqlalchemy.ext.asyncio import create_async_engine
from tests.e2e.conftest import fake, fake_server  # noqa: F401  (fixtures for live tests)
from tests.support import MASTER

from lockgate.app import create_app
from lockgate.audit.repository import AuditRepository
from lockgate.records import RequestRecord
from lockgate.settings import Settings, settings_from_mapping
from lockgate.storage.database import Database

KEY_HEX = "11" * 32
MOCK = [{"model_name": "mock", "params": {"model": "mock/mock-1"}}]


def make_record(n: int = 0, **fields: Any) -> RequestRecord:
    """A plausible finished request; ``fields`` override any attribute."""
    base: dict[str, Any] = {
        "request_id": f"req-{n}",
        "started_at": 1_700_000_000.0 + n,
        "api": "openai",
        "key_id": "key1",
        "key_name": "team-a-key",
        "team": "team-a",
        "user": "alice",
        "model": "mock",
        "provider": "mock",
        "deployment": "mock#0",
        "upstream_model": "mock-1",
        "status": 200,
        "error_type": None,
        "error_code": None,
        "stream": False,
        "prompt_tokens": 10 + n,
        "completion_tokens": 5,
        "cached_tokens": 0,
        "cost_usd": 0.000125,
        "latency_ms": 12.5,
        "overhead_ms": 0.3,
        "ttft_ms": None,
        "attempts": 1,
        "cache": "miss",
        "notes": {"guards": {"injection": {"score": 0.01, "action": "allow"}}},
        "client_ip": "127.0.0.1",
    }
    base.update(fields)
    return RequestRecord(**base)


def settings_for(url: str, models: list[dict[str, Any]] | None = None, **sections: Any) -> Settings:
    """Gateway settings on ``url`` with the test master key and extra config sections."""
    general = {"master_key": MASTER, "database_url": url, **sections.pop("general_settings", {})}
    data = {"model_list": models or MOCK, "general_settings": general, **sections}
    return settings_from_mapping(data, env={})


@pytest.fixture()
def db_url(tmp_path: Path) -> str:
    """A fresh SQLite file for this test."""
    return f"sqlite+aiosqlite:///{tmp_path}/audit.db"


@pytest.fixture()
async def db(db_url: str) -> AsyncIterator[Database]:
    """The test's database, migrated, disposed afterwards."""
    database = Database(db_url)
    await database.migrate()
    yield database
    await database.aclose()


@pytest.fixture()
def repo(db: Database) -> AuditRepository:
    """A repository on the test database."""
    return AuditRepository(db, page_size=7)


GatewayOpener = Callable[[Settings], contextlib.AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture()
def open_gateway() -> GatewayOpener:
    """An in-process gateway (ASGI) whose lifespan ends, flushing sinks, when the block exits."""

    @contextlib.asynccontextmanager
    async def opened(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
        async with LifespanManager(
            startup_timeout=120, shutdown_timeout=120, app=create_app(settings)
        ) as manager:
            transport = httpx.ASGITransport(manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
                yield client

    return opened


async def audit_rows(url: str) -> list[dict[str, Any]]:
    """Every audit row in the database at ``url``, in seq order (opened just for this)."""
    database = Database(url)
    try:
        return [row async for row in AuditRepository(database).rows()]
    finally:
        await database.aclose()


_databases = itertools.count()


async def fresh_database(server_url: str) -> str:
    """A new empty database on the session's PostgreSQL server; its URL."""
    name = f"audit_{next(_databases)}"
    engine = create_async_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        await engine.dispose()
    return server_url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(params=["sqlite", "postgres"])
async def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database URL on each backend: a SQLite file, and a new Postgres database."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/backend.db"
    return await fresh_database(request.getfixturevalue("postgres_url"))
