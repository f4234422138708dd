"""Fixtures for the hardening tests: gateways in-process and on real sockets, usage rows."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine
from tests.audit.conftest import audit_rows, open_gateway  # noqa: F401
from tests.e2e.conftest import fake, fake_server, gateway_factory  # noqa: F401

from lockgate.storage.database import Database
from lockgate.usage.tables import usage_records

MOCK = [{"model_name": "mock", "params": {"model": "mock/mock-1"}}]


async def fresh_database(server_url: str) -> str:
    """A new empty database on the session's PostgreSQL server (a unique name); its URL."""
    name = f"hardening_{uuid.uuid4().hex[:12]}"
    engine = create_async_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        await engine.dispose()
    return server_url.rsplit("/", 1)[0] + "/" + name


async def migrated(url: str) -> str:
    """``url`` once its database is at the newest schema."""
    db = Database(url)
    await db.migrate()
    await db.aclose()
    return url


async def backend_database(request: Any, tmp_path: Any, name: str) -> str:
    """A fresh, migrated database on the fixture's backend (param ``sqlite`` or
    ``postgres``: a new database on the session's PostgreSQL server)."""
    if request.param == "sqlite":
        return await migrated(f"sqlite+aiosqlite:///{tmp_path}/{name}.db")
    return await migrated(await fresh_database(request.getfixturevalue("postgres_url")))


async def usage_rows(url: str) -> list[dict[str, Any]]:
    """Every usage row in the database at ``url`` (opened just for this)."""
    db = Database(url)
    try:
        async with db.engine.connect() as conn:
            rows = (await conn.execute(sa.select(usage_records))).mappings().all()
        return [dict(r) for r in rows]
    finally:
        await db.aclose()


__all__ = ["MOCK", "audit_rows", "backend_database", "fresh_database", "migrated", "usage_rows"]


async def verify_audit(url: str) -> Any:
    """The audit chain's verification (``AuditRepository.verify``) on ``url``."""
    from lockgate.audit.repository import AuditRepository

    check = Database(url)
    try:
        return await AuditRepository(check).verify()
    finally:
        await check.aclose()
