"""Fixtures for the audit log: a migrated SQLite database, records, and gateways."""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from asgi_lifespan import LifespanManager
from sqlalchemy.ext.asyncio import create_async_engine
from tests.conftest import free_port
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
        async with LifespanManager(create_app(settings)) as manager:
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


class PostgresServer:
    """A throwaway PostgreSQL cluster on a free loopback port (trust auth, fsync off)."""

    def __init__(self) -> None:
        self.bin = Path(
            subprocess.run(
                ["pg_config", "--bindir"], capture_output=True, text=True, check=True
            ).stdout.strip()
        )
        self.dir = Path(tempfile.mkdtemp(prefix="lockgate-pg-"))
        self.port = free_port()
        self.counter = itertools.count()

    def _as_owner(self, *args: str) -> list[str]:
        # initdb refuses to run as root; the cluster belongs to the postgres user then.
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
            return ["runuser", "-u", "postgres", "--", *args]
        return list(args)

    def start(self) -> None:
        data = str(self.dir / "data")
        run = subprocess.run
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "check": True}
        initdb = [str(self.bin / "initdb"), "-D", data, "-A", "trust", "-U", "postgres"]
        run(self._as_owner(*initdb, "--no-sync", "-E", "UTF8"), timeout=60, **quiet)
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        ctl = [str(self.bin / "pg_ctl"), "-D", data, "-o", options, "-l", str(self.dir / "log")]
        run(self._as_owner(*ctl, "-w", "-t", "30", "start"), timeout=60, **quiet)

    def stop(self) -> None:
        ctl = [str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "fast", "-w"]
        subprocess.run(self._as_owner(*ctl, "stop"), timeout=60, capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    async def fresh_database(self) -> str:
        """A new empty database on the cluster; its URL."""
        name = f"audit_{next(self.counter)}"
        engine = create_async_engine(self.url(), isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as conn:
                await conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        finally:
            await engine.dispose()
        return self.url(name)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL cluster for the session (the audit tests' own; see the report)."""
    server = PostgresServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgres"])
async def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database URL on each backend: a SQLite file, and a new Postgres database."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/backend.db"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return await server.fresh_database()
