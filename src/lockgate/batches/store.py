"""Batch and batch-line rows in the database (SQLite or PostgreSQL, by URL); files in file_store.py.

Claims are atomic: on PostgreSQL with ``FOR UPDATE SKIP LOCKED`` so replicas never take
the same line; on SQLite (one writer at a time) with a single UPDATE. A line's answer is
stored in the same statement that marks it done, and only by the replica holding its
lease, so an answered line is never claimed again.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson

from lockgate.batches.file_store import FileStore, new_id
from lockgate.batches.journal import AnswerJournal
from lockgate.batches.lines import BatchLine, LineError
from lockgate.batches.output import output_lines
from lockgate.batches.paging import Page, page_of
from lockgate.storage.database import Database
from lockgate.storage.lean_import import lazy_module

if TYPE_CHECKING:
    import sqlalchemy as sa
    from sqlalchemy.ext.asyncio import AsyncEngine

    from lockgate.batches import tables
else:  # imported on first use (storage/lean_import.py)
    sa = lazy_module("sqlalchemy")
    tables = lazy_module("lockgate.batches.tables")

__all__ = ["BatchStore", "Claimed", "Finished", "Turn", "new_id"]

_INSERT_CHUNK = 1000
ACTIVE = ("in_progress", "cancelling")
#: a row when a runner may have work: an active batch, or a running line (any batch's: a
#: line whose lease lapsed is sorted and claimed again)
_BUSY = (
    "SELECT 1 WHERE EXISTS (SELECT 1 FROM batches WHERE status IN ('in_progress', 'cancelling'))"
    " OR EXISTS (SELECT 1 FROM batch_lines WHERE status = 'running')"
)


@dataclass(frozen=True, slots=True)
class Claimed:
    batch_id: str
    line_no: int
    custom_id: str
    body: dict[str, Any]
    attempts: int
    key_id: str | None
    endpoint: str
    #: set when the line is marked sent: its request must leave before this (wall
    #: clock), while its lease surely holds; later, it is marked again first
    send_by: float = math.inf


class Turn(NamedTuple):
    #: answers still this replica's to store (stored)
    stored: int
    #: lines leased
    claimed: list[Claimed]
    #: lines of ``sending`` marked sent (still this replica's)
    marked: set[tuple[str, int]]


@dataclass(frozen=True, slots=True)
class Finished:
    line: Claimed
    ok: bool
    status_code: int
    response: dict[str, Any]
    request_id: str | None
    #: answered from the answer journal: not re-sent after all (``resent`` goes back)
    replayed: bool = False


#: the answer of a line that was upstream when its replica went (``after_crash: fail``)
_INTERRUPTED = {
    "error": {
        "code": "interrupted",
        "message": "The gateway stopped while this request was upstream; it was not sent"
        " again (batches.after_crash: fail). It may or may not have run.",
    }
}


class BatchStore(FileStore):
    def __init__(
        self,
        db: Database,
        root: Path,
        *,
        resend_after_crash: bool = True,
        journal: AnswerJournal | None = None,
    ) -> None:
        super().__init__(db, root)
        self._pg = db.dialect == "postgresql"
        #: False: a line marked sent whose holder went is failed, never sent again
        self._resend = resend_after_crash
        #: upstream answers and "sending" marks (batches/journal.py): a line answered, or
        #: that never left, is run again after a crash (nothing sent twice), never failed
        self._journal = journal

    # -- batches -------------------------------------------------------------
    async def create_batch(
        self,
        *,
        key_id: str | None,
        endpoint: str,
        input_file_id: str,
        completion_window: str,
        metadata: dict[str, str] | None,
        lines: Sequence[BatchLine],
        errors: Sequence[LineError],
        now: float,
        expires_at: float,
        handoff: tuple[str, str, str] | None = None,
    ) -> dict[str, Any]:
        """``handoff``: (provider, alias, deployment id) to hand the batch to."""
        batch_id = new_id("batch")
        failed = bool(errors)
        row = {
            "id": batch_id,
            "key_id": key_id,
            "endpoint": endpoint,
            "input_file_id": input_file_id,
            "completion_window": completion_window,
            "status": "failed" if failed else "in_progress",
            "created_at": now,
            "in_progress_at": None if failed else now,
            "failed_at": now if failed else None,
            "expires_at": expires_at,
            "total": 0 if failed else len(lines),
            "errors": [e.to_openai() for e in errors] if failed else None,
            "metadata": metadata,
        }
        if handoff is not None and not failed:
            row.update(handoff=handoff[0], handoff_model=handoff[1], handoff_deployment=handoff[2])
        async with self.db.engine.begin() as conn:
            await conn.execute(tables.batches.insert().values(**row))
            for i in range(0, len(lines), _INSERT_CHUNK):
                await conn.execute(
                    tables.batch_lines.insert(),
                    [
                        {
                            "batch_id": batch_id,
                            "line_no": ln.line_no,
                            "custom_id": ln.custom_id,
                            "body": ln.body,
                            "status": "pending",
                            "attempts": 0,
                        }
                        for ln in lines[i : i + _INSERT_CHUNK]
                    ],
                )
        return await self.get_batch(batch_id) or row

    async def get_batch(self, batch_id: str) -> dict[str, Any] | None:
        async with self.db.engine.connect() as conn:
            row = (
                (
                    await conn.execute(
                        sa.select(tables.batches).where(tables.batches.c.id == batch_id)
                    )
                )
                .mappings()
                .first()
            )
            if row is None:
                return None
            out = dict(row)
            out["counts"] = await self._counts(conn, batch_id)
            out["resent"] = int(
                (
                    await conn.execute(
                        sa.select(
                            sa.func.coalesce(sa.func.sum(tables.batch_lines.c.resent), 0)
                        ).where(tables.batch_lines.c.batch_id == batch_id)
                    )
                ).scalar_one()
            )
        return out

    async def list_batches(
        self, key_id: str | None, admin: bool, page: Page
    ) -> list[dict[str, Any]]:
        """Up to ``page.limit + 1`` of the caller's batches after the cursor (the extra one
        says there is more; its counts are not read)."""
        scope = None if admin else tables.batches.c.key_id == key_id
        async with self.db.engine.connect() as conn:
            rows = await page_of(conn, tables.batches, scope, page, "batch")
            for r in rows[: page.limit]:
                r["counts"] = await self._counts(conn, r["id"])
        return rows

    async def _counts(self, conn: Any, batch_id: str) -> dict[str, int]:
        q = (
            sa.select(tables.batch_lines.c.status, sa.func.count())
            .where(tables.batch_lines.c.batch_id == batch_id)
            .group_by(tables.batch_lines.c.status)
        )
        return {status: int(n) for status, n in (await conn.execute(q)).all()}

    async def cancel(self, batch_id: str, now: float) -> None:
        async with self.db.engine.begin() as conn:
            await conn.execute(
                tables.batches.update()
                .where(
                    tables.batches.c.id == batch_id,
                    tables.batches.c.status.in_(("validating", "in_progress")),
                )
                .values(status="cancelling", cancelling_at=now)
            )
            # a handed-off batch's lines wait for what the provider ran before its cancel
            local = sa.select(tables.batches.c.id).where(
                tables.batches.c.id == batch_id, tables.batches.c.handoff.is_(None)
            )
            await conn.execute(
                tables.batch_lines.update()
                .where(
                    tables.batch_lines.c.batch_id == batch_id,
                    tables.batch_lines.c.status == "pending",
                    tables.batch_lines.c.batch_id.in_(local),
                )
                .values(status="cancelled")
            )

    # -- lines ---------------------------------------------------------------
    async def claim(self, owner: str, n: int, now: float, lease: float) -> list[Claimed]:
        """Lease up to ``n`` runnable lines (pending, or running with a lapsed lease)."""
        if n <= 0:
            return []
        async with self.db.engine.begin() as conn:
            return await self._claim(conn, owner, n, now, lease)

    async def _claim(
        self, conn: Any, owner: str, n: int, now: float, lease: float
    ) -> list[Claimed]:
        runnable = sa.or_(
            tables.batch_lines.c.status == "pending",
            sa.and_(
                tables.batch_lines.c.status == "running", tables.batch_lines.c.lease_until < now
            ),
        )
        active = sa.select(tables.batches.c.id).where(
            tables.batches.c.status == "in_progress",
            tables.batches.c.expired_at.is_(None),
            tables.batches.c.handoff.is_(None),
        )
        pick = (
            sa.select(tables.batch_lines.c.batch_id, tables.batch_lines.c.line_no)
            .where(runnable, tables.batch_lines.c.batch_id.in_(active))
            .order_by(tables.batch_lines.c.batch_id, tables.batch_lines.c.line_no)
            .limit(n)
        )
        key = sa.tuple_(tables.batch_lines.c.batch_id, tables.batch_lines.c.line_no)
        if self._pg:
            # The pick runs once, as a materialised CTE: inside `IN (subquery)` PostgreSQL
            # may rescan a LIMIT ... FOR UPDATE SKIP LOCKED subquery, and a rescan skips
            # the rows this very UPDATE changed, so claim(n=1) could lease two lines.
            picked = pick.with_for_update(skip_locked=True).cte("picked")
            picked = picked.prefix_with("MATERIALIZED", dialect="postgresql")
            chosen = sa.and_(
                tables.batch_lines.c.batch_id == picked.c.batch_id,
                tables.batch_lines.c.line_no == picked.c.line_no,
            )
        else:
            chosen = key.in_(pick)
        stmt = (
            tables.batch_lines.update()
            .where(chosen)
            .values(
                status="running",
                lease_owner=owner,
                lease_until=now + lease,
                attempts=tables.batch_lines.c.attempts + 1,
                # a line whose lease lapsed after it was marked sent in that attempt:
                # its replica died with the request possibly upstream
                resent=tables.batch_lines.c.resent
                + sa.case(
                    (
                        sa.and_(
                            tables.batch_lines.c.status == "running",
                            tables.batch_lines.c.sent_attempt == tables.batch_lines.c.attempts,
                        ),
                        1,
                    ),
                    else_=0,
                ),
            )
            .returning(
                tables.batch_lines.c.batch_id,
                tables.batch_lines.c.line_no,
                tables.batch_lines.c.custom_id,
                # the body's JSON text, decoded below by orjson (not the json module)
                sa.cast(tables.batch_lines.c.body, sa.Text)
                if self._pg
                else sa.type_coerce(tables.batch_lines.c.body, sa.Text),
                tables.batch_lines.c.attempts,
            )
        )
        await self._sort_lapsed(conn, now)
        rows = (await conn.execute(stmt)).all()
        if not rows:
            return []
        ids = {r[0] for r in rows}
        meta = {
            r.id: (r.key_id, r.endpoint)
            for r in (
                await conn.execute(
                    sa.select(
                        tables.batches.c.id, tables.batches.c.key_id, tables.batches.c.endpoint
                    ).where(tables.batches.c.id.in_(ids))
                )
            ).all()
        }
        return [
            Claimed(r[0], r[1], r[2], orjson.loads(r[3]), r[4], meta[r[0]][0], meta[r[0]][1])
            for r in sorted(rows, key=lambda r: (r[0], r[1]))
        ]

    async def _sort_lapsed(self, conn: Any, now: float) -> None:
        """Lines marked sent whose replica went (lease lapsed), sorted by the answer
        journal before they are claimed again: one whose owner's journal shows it never
        left goes back to pending (not a re-send); one whose answer was journaled runs
        again and replays it (nothing sent); the rest may be upstream: with
        ``after_crash: fail`` they fail as ``interrupted``, else they are re-sent."""
        c = tables.batch_lines.c
        lapsed = sa.and_(c.status == "running", c.lease_until < now, c.sent_attempt == c.attempts)
        j = self._journal
        if j is None and self._resend:
            return
        rows = (
            await conn.execute(sa.select(c.batch_id, c.line_no, c.lease_owner).where(lapsed))
        ).all()
        if not rows:
            return
        fresh: list[tuple[str, int]] = []
        lost: list[tuple[str, int]] = []
        if j is not None:
            j.refresh()
        for batch_id, line_no, owner in rows:
            if j is not None and owner is not None and j.never_left(owner, batch_id, line_no):
                fresh.append((batch_id, line_no))
            elif not self._resend and not (j is not None and j.answered(batch_id, line_no)):
                lost.append((batch_id, line_no))
        key = sa.tuple_(c.batch_id, c.line_no)
        for keys, values in (
            (fresh, {"status": "pending", "sent_attempt": None}),
            (lost, {"status": "failed", "status_code": 500, "response": _INTERRUPTED}),
        ):
            for i in range(0, len(keys), _INSERT_CHUNK):
                await conn.execute(
                    tables.batch_lines.update()
                    .where(lapsed, key.in_(keys[i : i + _INSERT_CHUNK]))
                    .values(**values, lease_owner=None, lease_until=None)
                )

    async def surely_idle(self) -> bool:
        """No batch is active and no line is running, so that claiming, renewing,
        expiring and finalizing would change nothing: known on SQLite without SQLAlchemy
        (an idle runner asks this every tick); False where it was not asked."""
        return await self.db.surely_empty(_BUSY)

    async def renew(self, owner: str, now: float, lease: float) -> None:
        if await self.surely_idle():
            return
        async with self.db.engine.begin() as conn:
            await conn.execute(
                tables.batch_lines.update()
                .where(
                    tables.batch_lines.c.lease_owner == owner,
                    tables.batch_lines.c.status == "running",
                )
                .values(lease_until=now + lease)
            )

    async def complete(
        self,
        line: Claimed,
        owner: str,
        *,
        ok: bool,
        status_code: int,
        response: dict[str, Any],
        request_id: str | None,
    ) -> bool:
        """Store a line's answer; False if this replica no longer held its lease."""
        done = Finished(line, ok, status_code, response, request_id)
        return await self.complete_many(owner, [done]) == 1

    async def complete_many(
        self, owner: str, results: Sequence[Finished], *, sending: Sequence[Claimed] = ()
    ) -> int:
        """Store many answers in one transaction (group commit); how many were still
        this replica's to store.  In the same transaction, mark the lines of ``sending``
        as sent in their current attempt (the caller sends them only after this)."""
        return (await self.turn(owner, results, sending=sending)).stored

    async def turn(
        self,
        owner: str,
        results: Sequence[Finished],
        *,
        sending: Sequence[Claimed] = (),
        claim: int = 0,
        now: float = 0.0,
        lease: float = 0.0,
    ) -> Turn:
        """One runner turn in ONE transaction (one commit): store ``results``, mark
        ``sending`` as sent (those still this replica's; with ``lease``, their lease
        is extended to ``now + lease``), and lease up to ``claim`` more lines."""
        if not results and not sending and (claim <= 0 or await self.surely_idle()):
            return Turn(0, [], set())

        async def work(engine: AsyncEngine) -> Turn:
            async with engine.begin() as conn:
                marked = (
                    await self._mark_sent(conn, owner, sending, now, lease) if sending else set()
                )
                stored = await self._store(conn, owner, results) if results else 0
                claimed = await self._claim(conn, owner, claim, now, lease) if claim > 0 else []
            return Turn(stored, claimed, marked)

        # On the database's write thread: the statements' back and forth with the
        # driver does not queue behind the lines running on the request loop
        return await self.db.write(work)

    async def _store(self, conn: Any, owner: str, results: Sequence[Finished]) -> int:
        stmt = (
            tables.batch_lines.update()
            .where(
                tables.batch_lines.c.batch_id == sa.bindparam("b_batch"),
                tables.batch_lines.c.line_no == sa.bindparam("b_line"),
                tables.batch_lines.c.lease_owner == owner,
                tables.batch_lines.c.status == "running",
            )
            .values(
                status=sa.bindparam("b_status"),
                status_code=sa.bindparam("b_code"),
                # encoded here by orjson (the JSON type would use the json module)
                response=sa.cast(sa.bindparam("b_response", type_=sa.Text), sa.JSON)
                if self._pg
                else sa.type_coerce(sa.bindparam("b_response"), sa.Text),
                request_id=sa.bindparam("b_request"),
                resent=sa.case(
                    (
                        tables.batch_lines.c.resent > 0,
                        tables.batch_lines.c.resent - sa.bindparam("b_replayed"),
                    ),
                    else_=tables.batch_lines.c.resent,
                ),
                lease_until=None,
            )
        )
        params = [
            {
                "b_batch": r.line.batch_id,
                "b_line": r.line.line_no,
                "b_status": "done" if r.ok else "failed",
                "b_code": r.status_code,
                "b_response": orjson.dumps(r.response).decode(),
                "b_request": r.request_id,
                "b_replayed": int(r.replayed and r.line.attempts > 1),
            }
            for r in results
        ]
        if not self._pg:  # sqlite3's executemany rowcount is the sum of its changes
            return int((await conn.execute(stmt, params)).rowcount)
        keys = [(r.line.batch_id, r.line.line_no) for r in results]
        stored = (
            sa.select(sa.func.count())
            .select_from(tables.batch_lines)
            .where(
                sa.tuple_(tables.batch_lines.c.batch_id, tables.batch_lines.c.line_no).in_(keys),
                tables.batch_lines.c.lease_owner == owner,
                tables.batch_lines.c.status.in_(("done", "failed")),
            )
        )
        before = (await conn.execute(stored)).scalar_one()
        await conn.execute(stmt, params)
        # asyncpg's executemany gives no rowcount: count instead
        after = (await conn.execute(stored)).scalar_one()
        return int(after) - int(before)

    async def _mark_sent(
        self, conn: Any, owner: str, lines: Sequence[Claimed], now: float, lease: float
    ) -> set[tuple[str, int]]:
        """Mark lines sent in their current attempt, only those this replica still
        holds (a lease that lapsed while this replica was alive may have gone to
        another, which may have sent the line): the ones marked."""
        c = tables.batch_lines.c
        values: dict[str, Any] = {"sent_attempt": c.attempts}
        if lease > 0:  # a marked line leaves within this lease (the runner checks)
            values["lease_until"] = now + lease
        rows = await conn.execute(
            tables.batch_lines.update()
            .where(
                sa.tuple_(c.batch_id, c.line_no).in_([(x.batch_id, x.line_no) for x in lines]),
                c.lease_owner == owner,
                c.status == "running",
            )
            .values(**values)
            .returning(c.batch_id, c.line_no)
        )
        return {(r[0], r[1]) for r in rows.all()}

    async def release(self, line: Claimed, owner: str, *, interrupted: bool = False) -> None:
        """Give a line back (a retryable failure, or this replica stopping: then it may
        have reached the upstream already, and its next run counts as a re-send)."""
        # a line given back to a batch that was cancelled or expired meanwhile is not run
        cancelling = sa.select(tables.batches.c.id).where(tables.batches.c.status == "cancelling")
        expiring = sa.select(tables.batches.c.id).where(tables.batches.c.expired_at.is_not(None))
        status = sa.case(
            (tables.batch_lines.c.batch_id.in_(cancelling), "cancelled"),
            (tables.batch_lines.c.batch_id.in_(expiring), "expired"),
            else_="pending",
        )
        values: dict[str, Any] = {"status": status, "lease_owner": None, "lease_until": None}
        if interrupted and self._journal and self._journal.has(line.batch_id, line.line_no):
            interrupted = False  # answered: its next run replays the answer
        if interrupted and not self._resend:
            values.update(status="failed", status_code=500, response=_INTERRUPTED)
        elif interrupted:
            values["resent"] = tables.batch_lines.c.resent + 1
        async with self.db.engine.begin() as conn:
            await conn.execute(
                tables.batch_lines.update()
                .where(
                    tables.batch_lines.c.batch_id == line.batch_id,
                    tables.batch_lines.c.line_no == line.line_no,
                    tables.batch_lines.c.lease_owner == owner,
                    tables.batch_lines.c.status == "running",
                )
                .values(**values)
            )

    # -- finishing -----------------------------------------------------------
    async def expire_due(self, now: float) -> list[str]:
        """Batches past their completion window stop running: lines not yet sent become
        ``expired`` (lines in flight may still store their answers); the batch is then
        finalized as ``expired`` with the answers it has.  The batches that expired."""
        if await self.surely_idle():
            return []
        due = sa.select(tables.batches.c.id).where(
            tables.batches.c.status == "in_progress",
            tables.batches.c.expired_at.is_(None),
            tables.batches.c.expires_at < now,
            tables.batches.c.handoff.is_(None),  # the provider's own window applies
        )

        async def work(engine: AsyncEngine) -> list[str]:
            async with engine.begin() as conn:
                ids = [r[0] for r in (await conn.execute(due)).all()]
                if not ids:
                    return []
                await conn.execute(
                    tables.batches.update()
                    .where(tables.batches.c.id.in_(ids), tables.batches.c.expired_at.is_(None))
                    .values(expired_at=now)
                )
                await conn.execute(
                    tables.batch_lines.update()
                    .where(
                        tables.batch_lines.c.batch_id.in_(ids),
                        tables.batch_lines.c.status == "pending",
                    )
                    .values(status="expired")
                )
            return ids

        # polled by the runner: on the write thread, off the request loop
        return await self.db.poll(work)

    async def finalize_ready(self, owner: str, now: float, lease: float) -> list[str]:
        """Write output and error files of batches with no line left to run."""
        if await self.surely_idle():
            return []
        # A running line counts until it is answered; in a cancelled batch, a line whose
        # replica vanished (lapsed lease) is never run again, so it stops counting.
        running_batches = sa.select(tables.batches.c.id).where(
            tables.batches.c.status == "in_progress", tables.batches.c.expired_at.is_(None)
        )
        unfinished = (
            sa.select(tables.batch_lines.c.batch_id)
            .where(
                sa.or_(
                    tables.batch_lines.c.status == "pending",
                    sa.and_(
                        tables.batch_lines.c.status == "running",
                        sa.or_(
                            tables.batch_lines.c.lease_until >= now,
                            tables.batch_lines.c.batch_id.in_(running_batches),
                        ),
                    ),
                )
            )
            .distinct()
        )

        async def take(engine: AsyncEngine) -> list[str]:
            async with engine.begin() as conn:
                ids = [
                    r[0]
                    for r in (
                        await conn.execute(
                            sa.select(tables.batches.c.id).where(
                                tables.batches.c.status.in_(ACTIVE),
                                tables.batches.c.id.not_in(unfinished),
                                sa.or_(
                                    tables.batches.c.finalize_until.is_(None),
                                    tables.batches.c.finalize_until < now,
                                ),
                            )
                        )
                    ).all()
                ]
                taken = []
                for batch_id in ids:
                    res = await conn.execute(
                        tables.batches.update()
                        .where(
                            tables.batches.c.id == batch_id,
                            sa.or_(
                                tables.batches.c.finalize_until.is_(None),
                                tables.batches.c.finalize_until < now,
                            ),
                        )
                        .values(finalize_owner=owner, finalize_until=now + lease, finalizing_at=now)
                    )
                    if res.rowcount:
                        taken.append(batch_id)
            return taken

        # polled by an idle runner every tick: on the write thread, off the request loop;
        # writing the files of the (rare) batches taken stays here
        taken = await self.db.poll(take)
        for batch_id in taken:
            await self._finalize(batch_id, owner, now)
        return taken

    async def _finalize(self, batch_id: str, owner: str, now: float) -> None:
        batch = await self.get_batch(batch_id)
        if batch is None:
            return
        expired = batch["expired_at"] is not None and batch["status"] == "in_progress"
        async with self.db.engine.connect() as conn:
            out, err = await output_lines(conn, batch_id, expired=expired, pg=self._pg)
        values: dict[str, Any] = {}
        key_id = batch["key_id"]
        if out:
            f = await self.create_file(
                key_id, "batch_output", f"{batch_id}_output.jsonl", b"\n".join(out) + b"\n", now
            )
            values["output_file_id"] = f["id"]
        if err:
            f = await self.create_file(
                key_id, "batch_output", f"{batch_id}_error.jsonl", b"\n".join(err) + b"\n", now
            )
            values["error_file_id"] = f["id"]
        if batch["status"] == "cancelling":
            values.update(status="cancelled", cancelled_at=now)
        elif expired:
            values.update(status="expired")
        else:
            values.update(status="completed", completed_at=now)
        async with self.db.engine.begin() as conn:
            await conn.execute(
                tables.batches.update()
                .where(tables.batches.c.id == batch_id, tables.batches.c.finalize_owner == owner)
                .values(**values)
            )
