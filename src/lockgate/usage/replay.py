"""Usage rows back from the dead-letter file, each at most once (keyed by request id).

``usage_records.request_id`` is the primary key, and each request's id is the
gateway's own, unique: a record whose id is already stored was written (the writer
process died after its commit, or an earlier replay wrote it) and is skipped, with
its rollups, so a replay never counts a request twice.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from lockgate.records import Packed, RequestRecord, pack, unpack
from lockgate.storage.database import Database
from lockgate.storage.replay import WriteOutcome
from lockgate.usage.repository import write_usage_batch
from lockgate.usage.tables import usage_records

__all__ = ["UsageReplay", "replay_usage_batch"]


def replay_usage_batch(conn: Connection, packed: list[Packed]) -> tuple[int, list[str]]:
    """Write the records of ``packed`` whose request id is not stored yet (rows and
    rollups, in ``conn``'s transaction): (rows written, ids already there)."""
    records = unpack(packed)
    ids = [r.request_id for r in records]
    stored = set(
        conn.execute(
            sa.select(usage_records.c.request_id).where(usage_records.c.request_id.in_(ids))
        ).scalars()
    )
    fresh = [p for p, r in zip(packed, records, strict=True) if r.request_id not in stored]
    if fresh:
        write_usage_batch(conn, fresh)
    return len(fresh), sorted(stored)


class UsageReplay:
    """The :class:`~lockgate.storage.replay.ReplaySink` of usage rows."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def write(self, records: Sequence[RequestRecord]) -> WriteOutcome:
        written, stored = await self._db.write_batch(replay_usage_batch, pack(records))
        return WriteOutcome(written, frozenset(stored))
