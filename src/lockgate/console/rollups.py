"""Usage rollups, kept incrementally by the usage writer's batch write.

Two narrow tables instead of one wide one (a (hour, key, team, user, model) rollup barely
compresses high-cardinality traffic: 991,410 rollup rows for 1,000,000 requests):

- ``usage_hourly``: one row per (hour, model), for the overview and the models page;
- ``usage_daily``: one row per (day, dimension, value, model) where the dimension is
  ``key``, ``team`` or ``user``, for the keys and usage pages;
- ``usage_latency``: per (hour, model, latency|ttft, bucket) a count (histogram.py's
  log-spaced buckets), so P50/P95/P99 over any period come from summed histograms.

:func:`add_rollups` adds a batch in the caller's transaction (the batch and its rollups
commit or fail together): the usage writer's path.  It sums the rows it is given in Python
(:func:`rollup_deltas`) and upserts each rollup key once per batch; reading the batch's rows
back and grouping them in SQL (:func:`rollups_in`, :func:`rollup_statements`: six
``INSERT ... SELECT ... GROUP BY`` statements) cost the writer process about three times
as much CPU per record.  Both give the same rollups (tests on SQLite and PostgreSQL).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from lockgate.console.histogram import EDGES, bucket_of
from lockgate.storage import bulk
from lockgate.usage.tables import usage_records

if TYPE_CHECKING:  # the writer process needs no async extension
    from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = [
    "DIMENSIONS",
    "SUMS",
    "RollupDeltas",
    "add_rollups",
    "apply_rollups",
    "metadata",
    "rollup_deltas",
    "rollup_statements",
    "rollups_in",
    "usage_daily",
    "usage_hourly",
    "usage_latency",
]

metadata = sa.MetaData()

#: the daily rollup's dimensions and the usage_records column each one reads
DIMENSIONS = {"key": "key_id", "team": "team", "user": "user"}
#: the summed columns
SUMS = (
    "requests",
    "errors",
    "cache_hits",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "cost_usd",
    "latency_ms_sum",
    "ttft_ms_sum",
    "ttft_count",
    "saved_usd",
)
_FLOATS = frozenset({"cost_usd", "latency_ms_sum", "ttft_ms_sum", "saved_usd"})


def _sums() -> list[sa.Column[Any]]:
    big = {"prompt_tokens", "completion_tokens", "cached_tokens"}
    return [
        sa.Column(
            name,
            sa.Float if name in _FLOATS else sa.BigInteger if name in big else sa.Integer,
            nullable=False,
        )
        for name in SUMS
    ]


usage_hourly = sa.Table(
    "usage_hourly",
    metadata,
    sa.Column("hour", sa.BigInteger, primary_key=True),
    sa.Column("model", sa.String(200), primary_key=True),
    *_sums(),
)

usage_daily = sa.Table(
    "usage_daily",
    metadata,
    sa.Column("day", sa.BigInteger, primary_key=True),
    sa.Column("dim", sa.String(8), primary_key=True),
    sa.Column("value", sa.String(200), primary_key=True),
    sa.Column("model", sa.String(200), primary_key=True),
    *_sums(),
)

usage_latency = sa.Table(
    "usage_latency",
    metadata,
    sa.Column("hour", sa.BigInteger, primary_key=True),
    sa.Column("model", sa.String(200), primary_key=True),
    sa.Column("metric", sa.String(8), primary_key=True),
    sa.Column("bucket", sa.SmallInteger, primary_key=True),
    sa.Column("count", sa.BigInteger, nullable=False),
)
#: the histogram metrics and the usage_records column each one reads
METRICS = {"latency": "latency_ms", "ttft": "ttft_ms"}

_CACHE_HITS = ("hit", "semantic-hit")


def _bucket(started_at: Any, seconds: int, postgres: bool) -> Any:
    if postgres:
        return sa.cast(sa.func.floor(started_at / seconds), sa.BigInteger) * seconds
    return sa.cast(started_at / seconds, sa.Integer) * seconds


def _sum_exprs(r: Any) -> list[Any]:
    """The SUMS of a group of usage_records rows, in SQL (what :func:`_add` does per row)."""
    return [
        sa.func.count().label("requests"),
        sa.func.sum(sa.case((r.status >= 400, 1), else_=0)).label("errors"),
        sa.func.sum(sa.case((r.cache.in_(_CACHE_HITS), 1), else_=0)).label("cache_hits"),
        sa.func.sum(r.prompt_tokens).label("prompt_tokens"),
        sa.func.sum(r.completion_tokens).label("completion_tokens"),
        sa.func.sum(r.cached_tokens).label("cached_tokens"),
        sa.func.sum(r.cost_usd).label("cost_usd"),
        sa.func.sum(r.latency_ms).label("latency_ms_sum"),
        sa.func.coalesce(sa.func.sum(r.ttft_ms), 0.0).label("ttft_ms_sum"),
        sa.func.count(r.ttft_ms).label("ttft_count"),
        sa.func.sum(r.saved_usd).label("saved_usd"),
    ]


def _upsert(postgres: bool, table: sa.Table, select: Any, sums: Sequence[str] = SUMS) -> Any:
    # each dialect's module loads with its engine; PostgreSQL's (~1 MB) only on use here
    if postgres:
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt: Any = pg_insert(table)
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        stmt = sqlite_insert(table)
    stmt = stmt.from_select([c.name for c in table.c], select)
    return stmt.on_conflict_do_update(
        index_elements=[c.name for c in table.primary_key],
        set_={name: table.c[name] + stmt.excluded[name] for name in sums},
    )


def _bucket_of(value: Any) -> Any:
    """histogram.bucket_of in SQL: a CASE over the bucket edges."""
    return sa.case(
        *((value < edge, i) for i, edge in enumerate(EDGES)),
        else_=len(EDGES),
    )


def rollup_statements(postgres: bool, where: Any) -> list[Any]:
    """Upserts adding the usage_records rows matching ``where`` to every rollup.

    Set-based (``INSERT ... SELECT ... GROUP BY ... ON CONFLICT DO UPDATE``): the database
    groups and sums, so a batch costs six statements, not a Python loop over its rows.
    """
    r = usage_records.c
    hour = _bucket(r.started_at, 3600, postgres)
    day = _bucket(r.started_at, 86400, postgres)
    statements = [
        _upsert(
            postgres,
            usage_hourly,
            sa.select(hour, r.model, *_sum_exprs(r)).where(where).group_by(hour, r.model),
        )
    ]
    for dim, column in DIMENSIONS.items():
        value = r[column]
        select = (
            sa.select(day, sa.literal(dim, sa.String), value, r.model, *_sum_exprs(r))
            .where(where, value.is_not(None), value != "")
            .group_by(day, value, r.model)
        )
        statements.append(_upsert(postgres, usage_daily, select))
    for metric, column in METRICS.items():
        value = r[column]
        bucket = _bucket_of(value)
        select = (
            sa.select(hour, r.model, sa.literal(metric, sa.String), bucket, sa.func.count())
            .where(where, value.is_not(None))
            .group_by(hour, r.model, bucket)
        )
        statements.append(_upsert(postgres, usage_latency, select, ("count",)))
    return statements


#: request ids per statement at most (SQLite's default limit is 32,766 parameters)
_IDS_PER_STATEMENT = 10_000


@functools.cache
def _statements(postgres: bool) -> tuple[Any, ...]:
    """The rollup upserts for a batch, built once: the batch's ids bind as ``ids``.

    On SQLite the ids bind as one JSON array read by ``json_each`` (the primary key's
    index is still used for each id): an expanding ``IN`` renders a placeholder per id
    into each of the six statements on every batch, which cost the writer about as much
    CPU as the upserts themselves.
    """
    if postgres:
        ids: Any = usage_records.c.request_id.in_(sa.bindparam("ids", expanding=True))
    else:
        listed: Any = sa.select(sa.column("value")).select_from(
            sa.func.json_each(sa.bindparam("ids", type_=sa.String))
        )
        ids = usage_records.c.request_id.in_(listed.scalar_subquery())
    return tuple(rollup_statements(postgres, ids))


def rollups_in(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Add ``rows`` (just inserted into usage_records on ``conn``) to the rollups."""
    postgres = conn.dialect.name == "postgresql"
    statements = _statements(postgres)
    ids = [row["request_id"] for row in rows]
    for lo in range(0, len(ids), _IDS_PER_STATEMENT):
        chunk = ids[lo : lo + _IDS_PER_STATEMENT]
        bound: Any = chunk if postgres else orjson.dumps(chunk).decode()
        for stmt in statements:
            conn.execute(stmt, {"ids": bound})


async def apply_rollups(conn: AsyncConnection, rows: Sequence[Mapping[str, Any]]) -> None:
    """:func:`rollups_in` on an async connection."""
    await conn.run_sync(rollups_in, rows)


#: a batch's additions to each rollup, by primary key (the rows of each table, less its key)
RollupDeltas = tuple[
    dict[tuple[int, str], list[Any]],
    dict[tuple[int, str, str, str], list[Any]],
    dict[tuple[int, str, str, int], int],
]
_ZERO = (0, 0, 0, 0, 0, 0, 0.0, 0.0, 0.0, 0, 0.0)  # SUMS' starting values, in order
_DAILY = tuple(DIMENSIONS.items())


def rollup_deltas(rows: Sequence[Mapping[str, Any]], postgres: bool) -> RollupDeltas:
    """What ``rows`` (usage_records rows) add to each rollup table, summed in Python.

    The same sums as :func:`rollup_statements` computes in SQL: hours and days bucketed
    as the database does it (PostgreSQL floors, SQLite's ``CAST`` truncates), errors are
    statuses from 400, cache hits ``hit``/``semantic-hit``, a daily row per non-empty
    key, team and user, histograms of the latency and of the ttft where there is one
    (SQLite stores a NaN as NULL, so there a NaN ttft counts as none).
    """
    if postgres:

        def bucket(t: float, seconds: int) -> int:
            return math.floor(t / seconds) * seconds
    else:

        def bucket(t: float, seconds: int) -> int:
            return int(t / seconds) * seconds

    # first by every key at once: a batch's rows share a handful of them
    groups: dict[tuple[Any, ...], list[Any]] = {}
    latency: dict[tuple[int, str, str, int], int] = {}
    for row in rows:
        started = row["started_at"]
        hour = bucket(started, 3600)
        model = row["model"]
        key = (hour, bucket(started, 86400), model, row["key_id"], row["team"], row["user"])
        acc = groups.get(key)
        if acc is None:
            acc = groups[key] = list(_ZERO)
        ttft = row["ttft_ms"]
        if ttft is not None and ttft != ttft and not postgres:
            ttft = None
        acc[0] += 1
        if row["status"] >= 400:
            acc[1] += 1
        if row["cache"] in _CACHE_HITS:
            acc[2] += 1
        acc[3] += row["prompt_tokens"]
        acc[4] += row["completion_tokens"]
        acc[5] += row["cached_tokens"]
        acc[6] += row["cost_usd"]
        acc[7] += row["latency_ms"]
        acc[10] += row["saved_usd"]
        at = (hour, model, "latency", bucket_of(row["latency_ms"]))
        latency[at] = latency.get(at, 0) + 1
        if ttft is not None:
            acc[8] += ttft
            acc[9] += 1
            at = (hour, model, "ttft", bucket_of(ttft))
            latency[at] = latency.get(at, 0) + 1
    hourly: dict[tuple[int, str], list[Any]] = {}
    daily: dict[tuple[int, str, str, str], list[Any]] = {}
    for (hour, day, model, *values), acc in groups.items():
        _add(hourly, (hour, model), acc)
        for (dim, _), value in zip(_DAILY, values, strict=True):
            if value is not None and value != "":
                _add(daily, (day, dim, value, model), acc)
    return hourly, daily, latency


def _add(into: dict[Any, list[Any]], key: Any, acc: list[Any]) -> None:
    sums = into.get(key)
    if sums is None:
        into[key] = list(acc)
    else:
        for i, value in enumerate(acc):
            sums[i] += value


def add_rollups(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Add ``rows`` (inserted into usage_records on ``conn``) to the rollups: one upsert
    per rollup key, keys in order (replicas on one PostgreSQL lock rows in one order)."""
    if not rows:
        return
    hourly, daily, latency = rollup_deltas(rows, conn.dialect.name == "postgresql")
    bulk.upsert_adding(conn, usage_hourly, [(*k, *v) for k, v in sorted(hourly.items())], SUMS)
    bulk.upsert_adding(conn, usage_daily, [(*k, *v) for k, v in sorted(daily.items())], SUMS)
    bulk.upsert_adding(
        conn, usage_latency, [(*k, n) for k, n in sorted(latency.items())], ("count",)
    )
