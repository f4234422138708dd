"""Fixtures for the prompt registry: fresh databases on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

_databases = itertools.count()


async def fresh_database(server_url: str) -> str:
    """A new empty database on the session's PostgreSQL server; its URL."""
    name = f"prompts_{next(_databases)}"
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
