"""Fixtures for the prompt registry: fresh databases on SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from asgi_lifespan import LifespanManager
from sqlalchemy.ext.asyncio import create_async_engine
from tests.support import MASTER, bearer

from lockgate.app import create_app
from lockgate.settings import Settings, settings_from_mapping


async def fresh_database(server_url: str) -> str:
    """A new empty database on the session's PostgreSQL server; its URL."""
    # A uuid, not a counter: this module may be imported twice (conftest and tests).
    name = f"prompts_{uuid.uuid4().hex[:12]}"
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
        return f"sqlite+aiosqlite:///{tmp_path}/prompts.db"
    return await fresh_database(request.getfixturevalue("postgres_url"))


MOCK = [
    {"model_name": "mock", "params": {"model": "mock/mock-1"}},
    {"model_name": "mock-b", "params": {"model": "mock/mock-2"}},
]


def gateway_settings(url: str, **sections: Any) -> Settings:
    """A gateway on ``url`` with two mock aliases and fast prompt polling."""
    data: dict[str, Any] = {
        "model_list": MOCK,
        "general_settings": {"master_key": MASTER, "database_url": url},
        "usage": {"flush_interval_seconds": 0.05},
        "prompts": {"poll_interval_seconds": 0.2},
        **sections,
    }
    return settings_from_mapping(data, env={})


@pytest.fixture()
async def open_gateway() -> AsyncIterator[Callable[[Settings], Any]]:
    """Open in-process gateways (lifespan-managed); closed after the test."""
    stack = contextlib.AsyncExitStack()

    async def start(settings: Settings) -> httpx.AsyncClient:
        manager = await stack.enter_async_context(
            LifespanManager(create_app(settings), startup_timeout=60, shutdown_timeout=60)
        )
        return await stack.enter_async_context(
            httpx.AsyncClient(
                transport=httpx.ASGITransport(manager.app),
                base_url="http://gateway",
                headers=bearer(),
            )
        )

    async with stack:
        yield start
