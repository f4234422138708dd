"""Audit entries back from the dead-letter file: chained on the head, each at most once.

Under the chain's append lock (Postgres: the advisory lock; SQLite: one writer at a
time), a batch looks up which of its request ids are already in ``audit_log`` and
appends the others exactly as the writer does (:func:`append_audit_batch`): on the
current head, with the head recorded beside the chain, in one transaction.  So the
chain stays linear and verifiable whatever else appends meanwhile, and a replay run
twice appends nothing the second time.  The entries' ``created_at`` is the replay's
write time (the chain's order); the record keeps when the request arrived.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from lockgate.audit.crypto import BodyCipher
from lockgate.audit.ledger import lock_chain_in
from lockgate.audit.tables import audit_log
from lockgate.audit.writer import append_audit_batch
from lockgate.records import Packed, RequestRecord, pack, unpack
from lockgate.storage.database import Database
from lockgate.storage.replay import WriteOutcome

__all__ = ["AuditReplay", "replay_audit_batch"]

#: append races (another writer took the same seq) retried before giving up
_RACES = 20


class UnencodableRecord(ValueError):
    """An audit entry could not be built from the record (kept as still bad)."""


def replay_audit_batch(
    conn: Connection, packed: list[Packed], now: float, cipher: BodyCipher | None
) -> tuple[int, list[str]]:
    """Append the records of ``packed`` not in the log yet, in ``conn``'s transaction:
    (entries appended, request ids already there).  A job of the writer thread/process."""
    lock_chain_in(conn)
    ids = [r.request_id for r in unpack(packed)]
    stored = set(
        conn.execute(
            sa.select(audit_log.c.request_id).where(audit_log.c.request_id.in_(ids))
        ).scalars()
    )
    fresh = [p for p, rid in zip(packed, ids, strict=True) if rid not in stored]
    if not fresh:
        return 0, sorted(stored)
    written, bad = append_audit_batch(conn, fresh, now, cipher)
    if bad:
        # Refuse the whole batch: the replay then finds the culprit row by row.
        raise UnencodableRecord(f"{len(bad)} record(s) could not be encoded: {bad[0][1]!r}")
    return written, sorted(stored)


class AuditReplay:
    """The :class:`~lockgate.storage.replay.ReplaySink` of audit entries."""

    def __init__(self, db: Database, cipher: BodyCipher | None) -> None:
        self._db = db
        self._cipher = cipher

    async def write(self, records: Sequence[RequestRecord]) -> WriteOutcome:
        packed = pack(records)
        for race in range(_RACES + 1):
            try:
                written, stored = await self._db.write_batch(
                    replay_audit_batch, packed, time.time(), self._cipher
                )
            except IntegrityError:
                # Another writer appended from the same head (SQLite, no advisory lock).
                if race == _RACES:
                    raise
                continue
            return WriteOutcome(written, frozenset(stored))
        raise AssertionError("unreachable")
