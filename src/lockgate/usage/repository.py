"""Usage rows and feedback in the relational database (SQLite or Postgres, by URL)."""

from __future__ import annotations

import functools
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lockgate.records import FIELDS, Packed, RequestRecord, fields_of, pack, unpack_fields
from lockgate.storage.database import Database
from lockgate.storage.lean_import import lazy_module
from lockgate.storage.text import bounded
from lockgate.usage.reports import Dimension, ReportQuery, ReportRow, day_of

if TYPE_CHECKING:
    import sqlalchemy as sa
    from sqlalchemy.engine import Connection
    from sqlalchemy.ext.asyncio import AsyncEngine

    from lockgate.console import rollups
    from lockgate.storage import bulk
    from lockgate.usage import tables
else:  # imported on first use (storage/lean_import.py)
    sa = lazy_module("sqlalchemy")
    bulk = lazy_module("lockgate.storage.bulk")
    rollups = lazy_module("lockgate.console.rollups")
    tables = lazy_module("lockgate.usage.tables")

__all__ = [
    "FeedbackEntry",
    "FeedbackSummary",
    "UsageRepository",
    "row_of",
    "row_of_fields",
    "write_usage_batch",
]

_CACHE_HITS = ("hit", "semantic-hit")


@functools.cache
def _string_columns() -> tuple[tuple[str, int], ...]:
    """Every string column and its length: each value is bounded and cleaned to fit."""
    return tuple(
        (c.name, c.type.length)
        for c in tables.usage_records.c
        if isinstance(c.type, sa.String) and c.type.length is not None
    )


#: the usage columns copied from the record's field of the same name, as they are
_COPIED = (
    "request_id",
    "started_at",
    "api",
    "key_id",
    "key_name",
    "team",
    "user",
    "model",
    "provider",
    "deployment",
    "upstream_model",
    "status",
    "error_type",
    "error_code",
    "stream",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "cost_usd",
    "latency_ms",
    "overhead_ms",
    "ttft_ms",
    "attempts",
    "cache",
    "client_request_id",
    "saved_usd",
)
_copied = operator.itemgetter(*(FIELDS.index(name) for name in _COPIED))
_NOTES = FIELDS.index("notes")
_STARTED_AT = FIELDS.index("started_at")


def row_of(record: RequestRecord) -> dict[str, Any]:
    """The usage_records row for one request record (no bodies: usage keeps none).

    String values are cut to their column's length and cleaned of control
    characters, so no client-chosen value (a long ``user``, a NUL) can fail a write.
    """
    return row_of_fields(fields_of(record))


def row_of_fields(values: tuple[Any, ...]) -> dict[str, Any]:
    """:func:`row_of` from a record's values in ``FIELDS`` order (the writer's jobs have
    these, not records: :func:`lockgate.records.unpack_fields`)."""
    notes = values[_NOTES] or {}
    version = notes.get("prompt_version")
    arm = notes.get("experiment") or {}
    route = notes.get("route") or {}
    row = dict(zip(_COPIED, _copied(values), strict=True))
    row["day"] = day_of(values[_STARTED_AT])
    row["prompt_version"] = str(version) if version is not None else None
    row["experiment"] = arm.get("name")
    row["variant"] = arm.get("variant")
    row["unit"] = arm.get("unit")
    row["route"] = "error" if route.get("error") else route.get("choice")
    row["route_score"] = route.get("score")
    row["route_threshold"] = route.get("threshold")
    for name, length in _string_columns():
        value: str | None = row[name]
        if value is not None and (len(value) > length or not value.isprintable()):
            row[name] = bounded(value, length)
    return row


@dataclass(frozen=True, slots=True)
class FeedbackEntry:
    request_id: str
    created_at: float
    key_id: str | None = None
    score: float | None = None
    thumbs: str | None = None  # "up" | "down"
    task_completed: bool | None = None
    comment: str | None = None
    model: str | None = None
    prompt_version: str | None = None
    #: an automated judge's score (the evaluation issue writes it)
    judge_score: float | None = None


@dataclass(frozen=True, slots=True)
class FeedbackSummary:
    model: str | None
    prompt_version: str | None
    count: int
    avg_score: float | None
    thumbs_up: int
    thumbs_down: int
    task_completed: int
    task_failed: int

    def to_json(self) -> dict[str, Any]:
        rated = self.thumbs_up + self.thumbs_down
        done = self.task_completed + self.task_failed
        return {
            "model": self.model,
            "prompt_version": self.prompt_version,
            "count": self.count,
            "avg_score": None if self.avg_score is None else round(self.avg_score, 6),
            "thumbs_up": self.thumbs_up,
            "thumbs_down": self.thumbs_down,
            "thumbs_up_rate": self.thumbs_up / rated if rated else None,
            "task_completed": self.task_completed,
            "task_failed": self.task_failed,
            "task_completion_rate": self.task_completed / done if done else None,
        }


def _group_columns(dims: Sequence[Dimension]) -> list[tuple[str, sa.ColumnElement[Any]]]:
    t = tables.usage_records.c
    cols: list[tuple[str, sa.ColumnElement[Any]]] = []
    for d in dims:
        if d == "key":
            cols.append(("key_id", t.key_id))
            cols.append(("key_name", t.key_name))
        else:
            cols.append((d, t[d]))
    return cols


class UsageRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    @property
    def _engine(self) -> AsyncEngine:
        return self._db.engine

    async def insert(
        self, records: Sequence[RequestRecord], packed: Sequence[Packed] | None = None
    ) -> None:
        """Write a batch and its rollups in one transaction, where the database writes
        batches (its writer process or write thread: :meth:`Database.write_batch`);
        ``packed``: the records' bytes when the caller has them (the writer's queue)."""
        if not records:
            return
        blobs = list(packed) if packed is not None else pack(records)
        await self._db.write_batch(write_usage_batch, blobs)

    async def get(self, request_id: str) -> dict[str, Any] | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(tables.usage_records).where(
                        tables.usage_records.c.request_id == request_id
                    )
                )
            ).first()
        return dict(row._mapping) if row is not None else None

    async def report(self, query: ReportQuery) -> list[ReportRow]:
        """Requests, tokens and spend grouped by ``query.group_by``."""
        t = tables.usage_records.c
        groups = _group_columns(query.group_by)
        hit = sa.case((t.cache.in_(_CACHE_HITS), 1), else_=0)
        err = sa.case((t.status >= 400, 1), else_=0)
        stmt = sa.select(
            *(col.label(name) for name, col in groups),
            sa.func.count().label("requests"),
            sa.func.coalesce(sa.func.sum(err), 0).label("errors"),
            sa.func.coalesce(sa.func.sum(hit), 0).label("cache_hits"),
            sa.func.coalesce(sa.func.sum(t.prompt_tokens), 0).label("prompt_tokens"),
            sa.func.coalesce(sa.func.sum(t.completion_tokens), 0).label("completion_tokens"),
            sa.func.coalesce(sa.func.sum(t.cached_tokens), 0).label("cached_tokens"),
            sa.func.coalesce(sa.func.sum(t.cost_usd), 0.0).label("cost_usd"),
            sa.func.coalesce(sa.func.avg(t.latency_ms), 0.0).label("avg_latency_ms"),
        )
        if query.since is not None:
            stmt = stmt.where(t.day >= query.since)
        if query.until is not None:
            stmt = stmt.where(t.day < query.until)
        for name in ("key_id", "team", "user", "model"):
            value = getattr(query, name)
            if value is not None:
                stmt = stmt.where(t[name] == value)
        if groups:
            cols = [col for _, col in groups]
            stmt = stmt.group_by(*cols).order_by(*cols)
        async with self._engine.connect() as conn:
            result = await conn.execute(stmt)
            rows = result.mappings().all()
        out: list[ReportRow] = []
        for m in rows:
            if not m["requests"]:
                continue
            out.append(
                ReportRow(
                    group={name: m[name] for name, _ in groups},
                    requests=int(m["requests"]),
                    errors=int(m["errors"]),
                    cache_hits=int(m["cache_hits"]),
                    prompt_tokens=int(m["prompt_tokens"]),
                    completion_tokens=int(m["completion_tokens"]),
                    cached_tokens=int(m["cached_tokens"]),
                    cost_usd=float(m["cost_usd"]),
                    avg_latency_ms=float(m["avg_latency_ms"]),
                )
            )
        return out

    async def add_feedback(self, entry: FeedbackEntry) -> int:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                tables.feedback.insert().returning(tables.feedback.c.id),
                {
                    "request_id": entry.request_id,
                    "created_at": entry.created_at,
                    "key_id": entry.key_id,
                    "score": entry.score,
                    "thumbs": entry.thumbs,
                    "task_completed": entry.task_completed,
                    "comment": entry.comment,
                    "model": entry.model,
                    "prompt_version": entry.prompt_version,
                    "judge_score": entry.judge_score,
                },
            )
            return int(result.scalar_one())

    async def feedback_summary(self, model: str | None = None) -> list[FeedbackSummary]:
        """Feedback aggregated per model and prompt version."""
        f = tables.feedback.c
        up = sa.case((f.thumbs == "up", 1), else_=0)
        down = sa.case((f.thumbs == "down", 1), else_=0)
        done = sa.case((f.task_completed.is_(True), 1), else_=0)
        failed = sa.case((f.task_completed.is_(False), 1), else_=0)
        stmt = (
            sa.select(
                f.model,
                f.prompt_version,
                sa.func.count().label("count"),
                sa.func.avg(f.score).label("avg_score"),
                sa.func.coalesce(sa.func.sum(up), 0).label("up"),
                sa.func.coalesce(sa.func.sum(down), 0).label("down"),
                sa.func.coalesce(sa.func.sum(done), 0).label("done"),
                sa.func.coalesce(sa.func.sum(failed), 0).label("failed"),
            )
            .group_by(f.model, f.prompt_version)
            .order_by(f.model, f.prompt_version)
        )
        if model is not None:
            stmt = stmt.where(f.model == model)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).mappings().all()
        return [
            FeedbackSummary(
                model=m["model"],
                prompt_version=m["prompt_version"],
                count=int(m["count"]),
                avg_score=None if m["avg_score"] is None else float(m["avg_score"]),
                thumbs_up=int(m["up"]),
                thumbs_down=int(m["down"]),
                task_completed=int(m["done"]),
                task_failed=int(m["failed"]),
            )
            for m in rows
        ]


def write_usage_batch(conn: Connection, packed: list[Packed]) -> None:
    """The rows of ``packed`` records and their rollups, in ``conn``'s transaction (a job of
    the writer process or thread: rows are built there, not on the request loop)."""
    rows = [row_of_fields(values) for values in unpack_fields(packed)]
    bulk.insert_rows(conn, tables.usage_records, rows)
    rollups.add_rollups(conn, rows)
