"""The console's request log: filtered, keyset-paginated reads of usage_records.

Filters travel in the URL (:meth:`LogFilter.from_query` / :meth:`LogFilter.query`), so a
filtered list can be bookmarked and its next page keeps them.  Pages are keyset-paginated
on (started_at, request_id) descending - no OFFSET, so page 1,000 costs what page 1 does -
and every filter has an index to walk: started_at, and (model|key_id|user, started_at)
(migration 0017).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlencode

from lockgate.storage.lean_import import lazy_module

if TYPE_CHECKING:
    import sqlalchemy as sa
    from sqlalchemy.ext.asyncio import AsyncEngine

    from lockgate.usage import tables
else:  # imported on first use (storage/lean_import.py)
    sa = lazy_module("sqlalchemy")
    tables = lazy_module("lockgate.usage.tables")


__all__ = ["Cursor", "LogFilter", "LogPage", "detail", "list_logs"]

Status = Literal["ok", "error"]
_TEXT = ("model", "key", "user", "cache", "prompt_version")


@dataclass(frozen=True, slots=True)
class LogFilter:
    """What the logs list shows; ``None`` means no restriction."""

    status: Status | None = None
    model: str | None = None
    key: str | None = None
    user: str | None = None
    cache: str | None = None
    prompt_version: str | None = None
    since: float | None = None
    until: float | None = None

    @classmethod
    def from_query(cls, q: Mapping[str, str]) -> LogFilter:
        """Parse URL parameters; blanks and malformed values are dropped, not errors."""
        status = q.get("status")
        values: dict[str, Any] = {name: q[name][:200] for name in _TEXT if q.get(name, "").strip()}
        for name in ("since", "until"):
            try:
                moment = float(q.get(name, ""))
            except ValueError:
                continue
            if math.isfinite(moment):
                values[name] = moment
        return cls(status=status if status in ("ok", "error") else None, **values)  # type: ignore[arg-type]

    def query(self, **extra: str) -> str:
        """The filter (and ``extra`` parameters) as a URL query string."""
        pairs = {k: _plain(v) for k, v in asdict(self).items() if v is not None}
        return urlencode({**pairs, **extra})


def _plain(v: object) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


@dataclass(frozen=True, slots=True)
class Cursor:
    """The position after the last row shown: (started_at, request_id)."""

    started_at: float
    request_id: str

    def encode(self) -> str:
        return f"{self.started_at!r}~{self.request_id}"

    @classmethod
    def decode(cls, text: str | None) -> Cursor | None:
        if not text or "~" not in text:
            return None
        at, _, rid = text.partition("~")
        try:
            return cls(float(at), rid)
        except ValueError:
            return None


@dataclass(frozen=True, slots=True)
class LogPage:
    rows: list[dict[str, Any]]
    next: Cursor | None


_LIST_COLUMNS = (
    "request_id",
    "started_at",
    "key_id",
    "key_name",
    "user",
    "model",
    "status",
    "cache",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "latency_ms",
    "prompt_version",
)


def _where(f: LogFilter, scope_key: str | None) -> list[Any]:
    c = tables.usage_records.c
    where: list[Any] = []
    if f.status == "ok":
        where.append(c.status < 400)
    elif f.status == "error":
        where.append(c.status >= 400)
    for name, column in (
        ("model", c.model),
        ("key", c.key_id),
        ("user", c.user),
        ("cache", c.cache),
        ("prompt_version", c.prompt_version),
    ):
        value = getattr(f, name)
        if value is not None:
            where.append(column == value)
    if scope_key is not None:
        where.append(c.key_id == scope_key)
    if f.since is not None:
        where.append(c.started_at >= f.since)
    if f.until is not None:
        where.append(c.started_at < f.until)
    return where


async def list_logs(
    engine: AsyncEngine,
    f: LogFilter,
    after: Cursor | None = None,
    limit: int = 50,
    scope_key: str | None = None,
) -> LogPage:
    """Newest first, ``limit`` rows after ``after``; ``scope_key`` pins one key's rows."""
    c = tables.usage_records.c
    where = _where(f, scope_key)
    if after is not None:
        where.append(c.started_at <= after.started_at)
        where.append(
            sa.or_(
                c.started_at < after.started_at,
                c.request_id < after.request_id,
            )
        )
    stmt = (
        sa.select(*(c[n] for n in _LIST_COLUMNS))
        .where(*where)
        .order_by(c.started_at.desc(), c.request_id.desc())
        .limit(limit + 1)
    )
    async with engine.connect() as conn:
        rows = [dict(r) for r in (await conn.execute(stmt)).mappings().all()]
    more = len(rows) > limit
    rows = rows[:limit]
    cursor = Cursor(rows[-1]["started_at"], rows[-1]["request_id"]) if more else None
    return LogPage(rows, cursor)


async def detail(
    engine: AsyncEngine, request_id: str, scope_key: str | None = None
) -> dict[str, Any] | None:
    """Every column of one request's usage row (None when absent or outside the scope)."""
    c = tables.usage_records.c
    stmt = sa.select(tables.usage_records).where(c.request_id == request_id)
    if scope_key is not None:
        stmt = stmt.where(c.key_id == scope_key)
    async with engine.connect() as conn:
        row = (await conn.execute(stmt)).mappings().first()
    return dict(row) if row is not None else None
