"""Stored model entries (``model_entries``) and their change counter."""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from lockgate.errors import NotFoundError
from lockgate.modelconfig.core import StoredEntry
from lockgate.modelconfig.tables import model_changes, model_entries
from lockgate.storage.database import Database

__all__ = ["ModelRepository"]


async def _bump(conn: AsyncConnection) -> None:
    await conn.execute(
        model_changes.update()
        .where(model_changes.c.id == 1)
        .values(version=model_changes.c.version + 1, changed_at=time.time())
    )


class ModelRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def version(self) -> int:
        return await self._db.poll_counter(
            sa.select(model_changes.c.version).where(model_changes.c.id == 1)
        )

    async def list(self) -> list[StoredEntry]:
        query = sa.select(model_entries).order_by(model_entries.c.created_at, model_entries.c.id)
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [StoredEntry(r.id, r.entry) for r in rows]

    async def add(self, model_name: str, raw: Mapping[str, Any]) -> str:
        rid = f"m-{secrets.token_hex(6)}"
        now = time.time()
        async with self._db.engine.begin() as conn:
            await conn.execute(
                model_entries.insert().values(
                    id=rid, model_name=model_name, entry=dict(raw), created_at=now, updated_at=now
                )
            )
            await _bump(conn)
        return rid

    async def replace(self, rid: str, model_name: str, raw: Mapping[str, Any]) -> None:
        async with self._db.engine.begin() as conn:
            result = await conn.execute(
                model_entries.update()
                .where(model_entries.c.id == rid)
                .values(model_name=model_name, entry=dict(raw), updated_at=time.time())
            )
            if result.rowcount == 0:
                raise _unknown(rid)
            await _bump(conn)

    async def get(self, rid: str) -> StoredEntry:
        async with self._db.engine.connect() as conn:
            row = (
                await conn.execute(sa.select(model_entries).where(model_entries.c.id == rid))
            ).first()
        if row is None:
            raise _unknown(rid)
        return StoredEntry(row.id, row.entry)

    async def remove(self, rid: str) -> None:
        async with self._db.engine.begin() as conn:
            result = await conn.execute(model_entries.delete().where(model_entries.c.id == rid))
            if result.rowcount == 0:
                raise _unknown(rid)
            await _bump(conn)


def _unknown(rid: str) -> NotFoundError:
    return NotFoundError(f"No stored model entry with id '{rid}'.", code="model_entry_not_found")
