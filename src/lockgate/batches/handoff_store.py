"""The rows behind a hand-off: which batches to drive, their remote ids, their answers.

A replica drives a handed-off batch under a lease on its row (``handoff_owner``,
``handoff_until``); ``handoff_until`` is also when it is polled next.  Every write
checks the lease, so a replica that lost it changes nothing.  The answers are stored
and the batch's remaining lines closed in one transaction, only for lines still
pending: results read twice are stored once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from lockgate.batches.handoff_wire import LineAnswer
from lockgate.batches.store import ACTIVE
from lockgate.storage.database import Database
from lockgate.storage.lean_import import lazy_module

if TYPE_CHECKING:
    import sqlalchemy as sa

    from lockgate.batches import tables
else:  # imported on first use (storage/lean_import.py)
    sa = lazy_module("sqlalchemy")
    tables = lazy_module("lockgate.batches.tables")

__all__ = ["HandoffStore"]

#: a line the provider's ended batch has no answer for
_MISSING = {
    "error": {
        "code": "handoff_missing",
        "message": "The provider's batch ended without an answer for this request.",
    }
}


class HandoffStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def take(self, owner: str, now: float, hold: float) -> list[dict[str, Any]]:
        """Lease the handed-off batches due for a step (until ``now + hold``)."""
        due = sa.and_(
            tables.batches.c.handoff.is_not(None),
            tables.batches.c.status.in_(ACTIVE),
            sa.or_(
                tables.batches.c.remote_status.is_(None), tables.batches.c.remote_status != "ended"
            ),
            sa.or_(tables.batches.c.handoff_until.is_(None), tables.batches.c.handoff_until < now),
        )
        async with self.db.engine.begin() as conn:
            ids = [
                r[0] for r in (await conn.execute(sa.select(tables.batches.c.id).where(due))).all()
            ]
            taken = []
            for batch_id in ids:
                res = await conn.execute(
                    tables.batches.update()
                    .where(tables.batches.c.id == batch_id, due)
                    .values(handoff_owner=owner, handoff_until=now + hold)
                )
                if res.rowcount:
                    taken.append(batch_id)
            if not taken:
                return []
            rows = await conn.execute(
                sa.select(tables.batches).where(tables.batches.c.id.in_(taken))
            )
            return [dict(r) for r in rows.mappings()]

    async def update(self, batch_id: str, owner: str, **values: Any) -> bool:
        """Write ``values`` on the batch while this replica holds it."""
        async with self.db.engine.begin() as conn:
            res = await conn.execute(
                tables.batches.update()
                .where(tables.batches.c.id == batch_id, tables.batches.c.handoff_owner == owner)
                .values(**values)
            )
        return bool(res.rowcount)

    async def lines(self, batch_id: str) -> list[tuple[int, str, dict[str, Any]]]:
        q = (
            sa.select(
                tables.batch_lines.c.line_no,
                tables.batch_lines.c.custom_id,
                tables.batch_lines.c.body,
            )
            .where(tables.batch_lines.c.batch_id == batch_id)
            .order_by(tables.batch_lines.c.line_no)
        )
        async with self.db.engine.connect() as conn:
            return [(int(r[0]), str(r[1]), r[2]) for r in (await conn.execute(q)).all()]

    async def finish(
        self, batch_id: str, owner: str, answers: Sequence[LineAnswer], *, cancelled: bool
    ) -> list[LineAnswer]:
        """Store the provider's answers for lines still pending, close the rest
        (cancelled, or failed with no answer) and mark the hand-off ended, in one
        transaction.  The answers stored (empty if this replica lost the batch)."""
        pending = sa.select(tables.batch_lines.c.line_no).where(
            tables.batch_lines.c.batch_id == batch_id, tables.batch_lines.c.status == "pending"
        )
        async with self.db.engine.begin() as conn:
            held = await conn.execute(
                tables.batches.update()
                .where(
                    tables.batches.c.id == batch_id,
                    tables.batches.c.handoff_owner == owner,
                    sa.or_(
                        tables.batches.c.remote_status.is_(None),
                        tables.batches.c.remote_status != "ended",
                    ),
                )
                .values(remote_status="ended")
            )
            if not held.rowcount:
                return []
            open_lines = {int(r[0]) for r in (await conn.execute(pending)).all()}
            stored = [a for a in answers if a.line_no in open_lines]
            if stored:
                await conn.execute(
                    tables.batch_lines.update()
                    .where(
                        tables.batch_lines.c.batch_id == batch_id,
                        tables.batch_lines.c.line_no == sa.bindparam("b_line"),
                        tables.batch_lines.c.status == "pending",
                    )
                    .values(
                        status=sa.bindparam("b_status"),
                        status_code=sa.bindparam("b_code"),
                        response=sa.bindparam("b_response", type_=sa.JSON),
                        request_id=sa.bindparam("b_request"),
                        attempts=1,
                        sent_attempt=1,
                    ),
                    [
                        {
                            "b_line": a.line_no,
                            "b_status": "done" if a.ok else "failed",
                            "b_code": a.status_code,
                            "b_response": a.body,
                            "b_request": a.request_id,
                        }
                        for a in stored
                    ],
                )
            rest = tables.batch_lines.update().where(
                tables.batch_lines.c.batch_id == batch_id, tables.batch_lines.c.status == "pending"
            )
            if cancelled:
                await conn.execute(rest.values(status="cancelled"))
            else:
                await conn.execute(rest.values(status="failed", status_code=500, response=_MISSING))
        return stored
