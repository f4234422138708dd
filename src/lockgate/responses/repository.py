"""Stored responses in the database (SQLite or Postgres), shared by every replica on it.

Reads and writes are one statement each on the request's loop: a continuation on
another replica must see the row as soon as the answer has gone out.  Bounds: a
put first drops the key's oldest rows beyond ``max_stored_per_key``; at most once
per ``prune_seconds`` a put also deletes expired rows and the oldest beyond
``max_stored``.  A row past its expiry is never returned, pruned or not.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from lockgate.responses.config import ResponsesSettings
from lockgate.responses.store import StoredResponse, decode_body, encode_body
from lockgate.storage.database import Database
from lockgate.storage.lean_import import lazy_module

if TYPE_CHECKING:
    import sqlalchemy as sa
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

    from lockgate.responses import tables
else:  # imported on first use (storage/lean_import.py)
    sa = lazy_module("sqlalchemy")
    tables = lazy_module("lockgate.responses.tables")

__all__ = ["DatabaseResponseStore"]


class DatabaseResponseStore:
    def __init__(
        self,
        db: Database,
        settings: ResponsesSettings,
        *,
        clock: Callable[[], float] = time.time,
        prune_seconds: float = 60.0,
    ) -> None:
        self._db = db
        self._settings = settings
        self._clock = clock
        self._prune_seconds = prune_seconds
        self._pruned_at = float("-inf")

    @property
    def _engine(self) -> AsyncEngine:
        return self._db.engine

    async def put(self, response_id: str, entry: StoredResponse) -> bool:
        s = self._settings
        if s.max_stored <= 0 or s.max_stored_per_key <= 0:
            return False
        body = encode_body(entry)
        if len(body) > s.max_entry_bytes:
            return False
        async with self._engine.begin() as conn:
            await conn.execute(
                tables.stored_responses.insert().values(
                    id=response_id,
                    owner=entry.owner,
                    body=body.decode(),
                    created_at=entry.created_at,
                    expires_at=entry.expires_at,
                )
            )
            await self._keep_newest(
                conn, s.max_stored_per_key, tables.stored_responses.c.owner == entry.owner
            )
        now = self._clock()
        if now - self._pruned_at >= self._prune_seconds:
            self._pruned_at = now
            await self.prune(now)
        return True

    async def prune(self, now: float) -> None:
        """Delete expired rows and the oldest beyond ``max_stored``."""
        async with self._engine.begin() as conn:
            await conn.execute(
                tables.stored_responses.delete().where(tables.stored_responses.c.expires_at <= now)
            )
            await self._keep_newest(conn, self._settings.max_stored, None)

    @staticmethod
    async def _keep_newest(
        conn: AsyncConnection, keep: int, where: sa.ColumnElement[bool] | None
    ) -> None:
        count = sa.select(sa.func.count()).select_from(tables.stored_responses)
        if where is not None:
            count = count.where(where)
        excess = int((await conn.execute(count)).scalar_one()) - keep
        if excess <= 0:
            return
        oldest = (
            sa.select(tables.stored_responses.c.id)
            .order_by(tables.stored_responses.c.created_at, tables.stored_responses.c.id)
            .limit(excess)
        )
        if where is not None:
            oldest = oldest.where(where)
        ids = [row[0] for row in await conn.execute(oldest)]
        await conn.execute(
            tables.stored_responses.delete().where(tables.stored_responses.c.id.in_(ids))
        )

    async def get(self, response_id: str, owner: str, now: float) -> StoredResponse | None:
        query = sa.select(
            tables.stored_responses.c.body,
            tables.stored_responses.c.created_at,
            tables.stored_responses.c.expires_at,
        ).where(
            tables.stored_responses.c.id == response_id,
            tables.stored_responses.c.owner == owner,
            tables.stored_responses.c.expires_at > now,
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        return decode_body(row[0], owner, float(row[1]), float(row[2]))

    async def delete(self, response_id: str, owner: str) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                tables.stored_responses.delete().where(
                    tables.stored_responses.c.id == response_id,
                    tables.stored_responses.c.owner == owner,
                )
            )
        return bool(result.rowcount)

    async def aclose(self) -> None:
        return None  # the engine belongs to the Database
