"""Suite runs kept in the gateway's database (``eval_runs``, migration 0019).

``lockgate eval run|compare --store`` adds a run's JSON document (report.run_json); the
console lists runs by their ``summary`` (per-target pass rates with Wilson intervals,
the comparison's verdict) and opens one run's full ``report`` (every case result).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from lockgate.errors import NotFoundError
from lockgate.storage.database import Database

__all__ = ["EvalRunRepository", "StoredRun", "eval_runs"]

metadata = sa.MetaData()

eval_runs = sa.Table(
    "eval_runs",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("title", sa.String(500), nullable=False),
    #: "run" or "compare"
    sa.Column("kind", sa.String(16), nullable=False),
    #: the report without its case results (what a list shows)
    sa.Column("summary", sa.JSON, nullable=False),
    sa.Column("report", sa.JSON, nullable=False),
)


@dataclass(frozen=True, slots=True)
class StoredRun:
    id: str
    created_at: float
    title: str
    kind: str
    summary: Mapping[str, Any]
    #: the whole run_json document (None when only the summary was read)
    report: Mapping[str, Any] | None = None


class EvalRunRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, title: str, report: Mapping[str, Any], now: float | None = None) -> str:
        rid = f"run-{secrets.token_hex(6)}"
        summary = {k: v for k, v in report.items() if k != "results"}
        kind = "compare" if report.get("comparison") else "run"
        async with self._db.engine.begin() as conn:
            await conn.execute(
                eval_runs.insert().values(
                    id=rid,
                    created_at=time.time() if now is None else now,
                    title=title[:500],
                    kind=kind,
                    summary=summary,
                    report=dict(report),
                )
            )
        return rid

    async def recent(self, limit: int = 100) -> list[StoredRun]:
        t = eval_runs.c
        query = (
            sa.select(t.id, t.created_at, t.title, t.kind, t.summary)
            .order_by(t.created_at.desc(), t.id)
            .limit(limit)
        )
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [StoredRun(r.id, r.created_at, r.title, r.kind, r.summary) for r in rows]

    async def get(self, rid: str) -> StoredRun:
        async with self._db.engine.connect() as conn:
            r = (await conn.execute(sa.select(eval_runs).where(eval_runs.c.id == rid))).first()
        if r is None:
            raise NotFoundError(f"No stored eval run '{rid}'.", code="eval_run_not_found")
        return StoredRun(r.id, r.created_at, r.title, r.kind, r.summary, r.report)
