"""SQL shared by the writer and the repository: the chain head and the append lock.

Appends stay linear with several replicas on one database in two ways:

* ``seq`` is the primary key and each batch re-reads the head inside its own
  transaction, so two writers that raced from the same head cannot both commit:
  the loser's insert of the same ``seq`` fails and it retries from the new head;
* on Postgres each append (and prune) first takes a transaction-scoped advisory
  lock, so writers queue instead of colliding and wasting work.  SQLite allows one
  writer at a time anyway; a writer that loses the race sees ``IntegrityError`` or
  ``database is locked`` and retries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from lockgate.audit.chain import GENESIS_HASH
from lockgate.audit.tables import audit_checkpoints, audit_head, audit_log

if TYPE_CHECKING:  # the writer process needs no async extension
    from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = [
    "ADVISORY_LOCK_KEY",
    "Checkpoint",
    "checkpoint_in",
    "lock_chain",
    "lock_chain_in",
    "read_checkpoint",
    "read_head",
    "read_stored_head",
    "write_head",
]

#: pg_advisory_xact_lock key for audit appends ("lockgaud" as a big-endian int64)
ADVISORY_LOCK_KEY = int.from_bytes(b"lockgaud", "big") & 0x7FFF_FFFF_FFFF_FFFF


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The last row a prune removed: rows after it verify from here."""

    seq: int
    hash: str


def lock_chain_in(conn: Connection) -> None:
    """Serialise appends and prunes across processes (Postgres; a no-op elsewhere)."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(ADVISORY_LOCK_KEY)))


async def lock_chain(conn: AsyncConnection) -> None:
    """:func:`lock_chain_in` on an async connection."""
    await conn.run_sync(lock_chain_in)


def checkpoint_in(conn: Connection) -> Checkpoint | None:
    row = conn.execute(
        sa.select(audit_checkpoints.c.seq, audit_checkpoints.c.hash)
        .order_by(audit_checkpoints.c.seq.desc())
        .limit(1)
    ).first()
    return None if row is None else Checkpoint(int(row.seq), str(row.hash))


async def read_checkpoint(conn: AsyncConnection) -> Checkpoint | None:
    return await conn.run_sync(checkpoint_in)


#: the statements of every append, built once (their compiled forms are then cached
#: without building and keying a new statement per batch)
_NEWEST = sa.select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)
_SET_HEAD = sa.update(audit_head).where(audit_head.c.id == 1)


def read_head(conn: Connection) -> Checkpoint:
    """(seq, hash) to chain the next row onto; seq -1 and the genesis hash when empty."""
    row = conn.execute(_NEWEST).first()
    if row is not None:
        return Checkpoint(int(row.seq), str(row.hash))
    checkpoint = checkpoint_in(conn)
    return checkpoint if checkpoint is not None else Checkpoint(-1, GENESIS_HASH)


async def read_stored_head(conn: AsyncConnection) -> Checkpoint | None:
    """The head recorded beside the chain by the last append (None before any)."""
    row = (
        await conn.execute(
            sa.select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1)
        )
    ).first()
    return None if row is None else Checkpoint(int(row.seq), str(row.hash))


def write_head(conn: Connection, head: Checkpoint, now: float) -> None:
    """Record ``head`` beside the chain (call inside the append's transaction)."""
    values = {"seq": head.seq, "hash": head.hash, "updated_at": now}
    done = conn.execute(_SET_HEAD, values)
    if not done.rowcount:
        conn.execute(sa.insert(audit_head).values(id=1, **values))
