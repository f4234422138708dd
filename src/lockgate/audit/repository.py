"""Reading the audit log: iterate in ``seq`` order, verify, export JSONL, prune.

Retention keeps verification possible: a prune deletes a prefix of the chain
(every row up to the newest one older than the cut-off) and stores that row's
(seq, hash) as a checkpoint in the same transaction; verification then starts
from the newest checkpoint instead of the genesis hash.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from lockgate.audit.chain import GENESIS_HASH, verify_chain
from lockgate.audit.crypto import BodyCipher
from lockgate.audit.entry import BODY_FIELDS, decrypt_body
from lockgate.storage.database import Database
from lockgate.storage.lean_import import lazy_module

if TYPE_CHECKING:
    import sqlalchemy as sa

    from lockgate.audit import ledger, tables
else:  # imported on first use (storage/lean_import.py)
    sa = lazy_module("sqlalchemy")
    ledger = lazy_module("lockgate.audit.ledger")
    tables = lazy_module("lockgate.audit.tables")

__all__ = ["AuditRepository", "PruneResult", "Verification"]

_PAGE = 1000
_BOTTOM = -(2**62)


def _as_dict(row: sa.Row[Any], parse: bool) -> dict[str, Any]:
    # Column keys arrive as str subclasses, which orjson refuses as keys.
    out = {str(k): v for k, v in row._mapping.items()}
    if parse:
        out["record"] = orjson.loads(out["record"])
    return out


@dataclass(frozen=True, slots=True)
class Verification:
    """Outcome of :meth:`AuditRepository.verify`."""

    ok: bool
    checked: int
    #: the (seq, hash) verification started from: a prune checkpoint, or (-1, genesis)
    start: ledger.Checkpoint
    #: the newest verified row; keep it elsewhere to detect later truncation
    head: ledger.Checkpoint | None
    first_bad_seq: int | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class PruneResult:
    deleted: int
    checkpoint: ledger.Checkpoint | None


class AuditRepository:
    """Audit rows in the configured database."""

    def __init__(self, db: Database, *, page_size: int = _PAGE) -> None:
        self._db = db
        self._page = page_size

    async def count(self) -> int:
        async with self._db.engine.connect() as conn:
            return int(
                (
                    await conn.execute(sa.select(sa.func.count()).select_from(tables.audit_log))
                ).scalar_one()
            )

    async def checkpoint(self) -> ledger.Checkpoint | None:
        """The newest prune checkpoint, if any rows were ever pruned."""
        async with self._db.engine.connect() as conn:
            return await ledger.read_checkpoint(conn)

    async def rows(
        self, *, after_seq: int = _BOTTOM, parse: bool = True
    ) -> AsyncIterator[dict[str, Any]]:
        """Every row with ``seq > after_seq`` as a dict, in ``seq`` order, a page at a time.

        ``record`` is parsed into a dict unless ``parse`` is false (as stored and hashed).
        """
        last = after_seq
        while True:
            async with self._db.engine.connect() as conn:
                page = (
                    await conn.execute(
                        sa.select(*tables.audit_log.c)
                        .where(tables.audit_log.c.seq > last)
                        .order_by(tables.audit_log.c.seq)
                        .limit(self._page)
                    )
                ).all()
            for row in page:
                yield _as_dict(row, parse)
            if len(page) < self._page:
                return
            last = int(page[-1].seq)

    async def by_request_id(self, request_id: str) -> list[dict[str, Any]]:
        async with self._db.engine.connect() as conn:
            result = await conn.execute(
                sa.select(*tables.audit_log.c)
                .where(tables.audit_log.c.request_id == request_id)
                .order_by(tables.audit_log.c.seq)
            )
            return [_as_dict(r, True) for r in result]

    async def verify(self, *, expected_head: tuple[int, str] | None = None) -> Verification:
        """Check every link from the newest checkpoint (or genesis) to the newest row.

        The chain must end at ``expected_head`` when given, else pass through the head
        every append records beside the chain (``audit_head``): rows cut off the end fail.
        That head is read before the rows, so rows a live gateway appends meanwhile may
        follow it; the chain must hold it as one of its links (same seq, same hash).
        """
        async with self._db.engine.connect() as conn:
            checkpoint = await ledger.read_checkpoint(conn)
            stored = await ledger.read_stored_head(conn)
        start = checkpoint if checkpoint is not None else ledger.Checkpoint(-1, GENESIS_HASH)
        prev, next_seq, checked = start.hash, start.seq + 1, 0
        head: ledger.Checkpoint | None = None
        page: list[dict[str, Any]] = []
        #: the stored head as a link of the chain (rows appended after it was read)
        linked: ledger.Checkpoint | None = None

        def check(rows: list[dict[str, Any]]) -> Verification | None:
            nonlocal prev, next_seq, checked, head, linked
            result = verify_chain(rows, prev_hash=prev, start_seq=next_seq)
            if not result.ok:
                bad = rows[result.first_bad_index or 0]
                return Verification(
                    False, checked + result.checked, start, head, int(bad["seq"]), result.reason
                )
            checked += result.checked
            if stored is not None and linked is None:
                offset = stored.seq - int(rows[0]["seq"])
                if 0 <= offset < len(rows) and rows[offset]["hash"] == stored.hash:
                    linked = stored
            last = rows[-1]
            prev, next_seq = last["hash"], int(last["seq"]) + 1
            head = ledger.Checkpoint(int(last["seq"]), str(last["hash"]))
            return None

        # From the very bottom: rows slipped in below the checkpoint must fail too.
        async for row in self.rows(after_seq=_BOTTOM, parse=False):
            page.append(row)
            if len(page) >= self._page:
                failed = check(page)
                if failed is not None:
                    return failed
                page = []
        if page and (failed := check(page)) is not None:
            return failed
        if expected_head is None and stored is not None:
            expected_head = (stored.seq, stored.hash)
            if linked is not None:  # the chain holds it; later rows were appended since
                return Verification(True, checked, start, head)
        end = head if head is not None else (start if start.seq >= 0 else None)
        if expected_head is not None and (end is None or (end.seq, end.hash) != expected_head):
            got = None if end is None else (end.seq, end.hash)
            reason = f"log ends at {got!r}, expected head {expected_head!r} (rows cut off?)"
            bad_seq = expected_head[0] if end is None else min(end.seq + 1, expected_head[0])
            return Verification(False, checked, start, head, bad_seq, reason)
        return Verification(True, checked, start, head)

    async def export(
        self,
        write: Callable[[bytes], object],
        *,
        cipher: BodyCipher | None = None,
        bodies: bool = True,
        since: float | None = None,
    ) -> int:
        """Write one JSON line per row (``since``: created at or after); returns the count.

        With ``bodies`` the stored bodies are decrypted with ``cipher`` (and a stored
        body without a cipher is an error); without, body columns are left out.
        """
        count = 0
        async for line in self.export_lines(cipher=cipher, bodies=bodies, since=since):
            write(line)
            count += 1
        return count

    async def export_lines(
        self, *, cipher: BodyCipher | None = None, bodies: bool = True, since: float | None = None
    ) -> AsyncIterator[bytes]:
        """The lines of :meth:`export`, one JSON object per row, each ending in a newline."""
        async for row in self.rows():
            if since is not None and row["created_at"] < since:
                continue
            if bodies:
                for name in BODY_FIELDS:
                    if row[name] is not None:
                        if cipher is None:
                            raise ValueError(
                                f"row {row['seq']} holds an encrypted {name} and no key was given"
                            )
                        row[name] = decrypt_body(cipher, row, name)
            else:
                for name in (*BODY_FIELDS, "body_key_id"):
                    row.pop(name, None)
            yield orjson.dumps(row) + b"\n"

    async def prune(self, *, older_than: float, now: float) -> PruneResult:
        """Delete every row up to the newest one created before ``older_than``."""
        async with self._db.engine.begin() as conn:
            await ledger.lock_chain(conn)
            cut = (
                await conn.execute(
                    sa.select(sa.func.max(tables.audit_log.c.seq)).where(
                        tables.audit_log.c.created_at < older_than
                    )
                )
            ).scalar_one()
            if cut is None:
                return PruneResult(0, await ledger.read_checkpoint(conn))
            last_hash = (
                await conn.execute(
                    sa.select(tables.audit_log.c.hash).where(tables.audit_log.c.seq == cut)
                )
            ).scalar_one()
            deleted = (
                await conn.execute(sa.delete(tables.audit_log).where(tables.audit_log.c.seq <= cut))
            ).rowcount
            checkpoint = ledger.Checkpoint(int(cut), str(last_hash))
            await conn.execute(
                tables.audit_checkpoints.insert().values(
                    seq=checkpoint.seq, hash=checkpoint.hash, pruned_at=now, rows=deleted
                )
            )
        return PruneResult(int(deleted), checkpoint)
