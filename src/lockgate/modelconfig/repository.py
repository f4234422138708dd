"""Stored model entries (``model_entries``) and their change counter."""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from lockgate.errors import NotFoundError
from lockgate.modelconfig.core import StoredEntry
from lockgate.storage.database import Database
from lockgate.storage.lean_import import lazy_module

if TYPE_CHECKING:
    import sqlalchemy as sa
    from sqlalchemy.ext.asyncio import AsyncConnection

    from lockgate.modelconfig import tables
else:  # imported on first use (storage/lean_import.py)
    sa = lazy_module("sqlalchemy")
    tables = lazy_module("lockgate.modelconfig.tables")

__all__ = ["ModelRepository"]


async def _bump(conn: AsyncConnection) -> None:
    await conn.execute(
        tables.model_changes.update()
        .where(tables.model_changes.c.id == 1)
        .values(version=tables.model_changes.c.version + 1, changed_at=time.time())
    )


class ModelRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def version(self) -> int:
        return await self._db.poll_counter("SELECT version FROM model_changes WHERE id = 1")

    async def list(self) -> list[StoredEntry]:
        if await self._db.surely_empty("SELECT 1 FROM model_entries LIMIT 1"):
            return []  # none stored (the common case), read without SQLAlchemy
        query = sa.select(tables.model_entries).order_by(
            tables.model_entries.c.created_at, tables.model_entries.c.id
        )
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [StoredEntry(r.id, r.entry) for r in rows]

    async def add(self, model_name: str, raw: Mapping[str, Any]) -> str:
        rid = f"m-{secrets.token_hex(6)}"
        now = time.time()
        async with self._db.engine.begin() as conn:
            await conn.execute(
                tables.model_entries.insert().values(
                    id=rid, model_name=model_name, entry=dict(raw), created_at=now, updated_at=now
                )
            )
            await _bump(conn)
        return rid

    async def replace(self, rid: str, model_name: str, raw: Mapping[str, Any]) -> None:
        async with self._db.engine.begin() as conn:
            result = await conn.execute(
                tables.model_entries.update()
                .where(tables.model_entries.c.id == rid)
                .values(model_name=model_name, entry=dict(raw), updated_at=time.time())
            )
            if result.rowcount == 0:
                raise _unknown(rid)
            await _bump(conn)

    async def get(self, rid: str) -> StoredEntry:
        async with self._db.engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(tables.model_entries).where(tables.model_entries.c.id == rid)
                )
            ).first()
        if row is None:
            raise _unknown(rid)
        return StoredEntry(row.id, row.entry)

    async def remove(self, rid: str) -> None:
        async with self._db.engine.begin() as conn:
            result = await conn.execute(
                tables.model_entries.delete().where(tables.model_entries.c.id == rid)
            )
            if result.rowcount == 0:
                raise _unknown(rid)
            await _bump(conn)


def _unknown(rid: str) -> NotFoundError:
    return NotFoundError(f"No stored model entry with id '{rid}'.", code="model_entry_not_found")
