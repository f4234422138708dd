"""Hourly usage rollups, kept incrementally by the usage writer's batch write.

``usage_rollups`` holds one row per (hour, key, team, user, model) with counters and
sums; the console's aggregates read it instead of scanning ``usage_records``.
:func:`fold` is the pure part (rows -> bucket deltas); :func:`apply_rollups` upserts the
deltas in the caller's transaction, so a batch and its rollup commit or fail together.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["SUMS", "BucketKey", "apply_rollups", "fold", "metadata", "usage_rollups"]

metadata = sa.MetaData()

#: the grouping columns ("" stands for none: primary-key columns cannot be NULL)
KEYS = ("hour", "key_id", "team", "user", "model")
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
)

usage_rollups = sa.Table(
    "usage_rollups",
    metadata,
    sa.Column("hour", sa.Integer, primary_key=True),
    sa.Column("key_id", sa.String(32), primary_key=True),
    sa.Column("team", sa.String(200), primary_key=True),
    sa.Column("user", sa.String(200), primary_key=True),
    sa.Column("model", sa.String(200), primary_key=True),
    sa.Column("requests", sa.Integer, nullable=False),
    sa.Column("errors", sa.Integer, nullable=False),
    sa.Column("cache_hits", sa.Integer, nullable=False),
    sa.Column("prompt_tokens", sa.BigInteger, nullable=False),
    sa.Column("completion_tokens", sa.BigInteger, nullable=False),
    sa.Column("cached_tokens", sa.BigInteger, nullable=False),
    sa.Column("cost_usd", sa.Float, nullable=False),
    sa.Column("latency_ms_sum", sa.Float, nullable=False),
    sa.Column("ttft_ms_sum", sa.Float, nullable=False),
    sa.Column("ttft_count", sa.Integer, nullable=False),
)

BucketKey = tuple[int, str, str, str, str]

_CACHE_HITS = frozenset({"hit", "semantic-hit"})


def fold(rows: Iterable[Mapping[str, Any]]) -> dict[BucketKey, dict[str, float]]:
    """Sum usage rows (``usage_records`` shape) into hourly buckets."""
    out: dict[BucketKey, dict[str, float]] = {}
    for r in rows:
        key: BucketKey = (
            int(r["started_at"] // 3600) * 3600,
            r.get("key_id") or "",
            r.get("team") or "",
            r.get("user") or "",
            r["model"],
        )
        b = out.get(key)
        if b is None:
            b = out[key] = dict.fromkeys(SUMS, 0.0)
        ttft = r.get("ttft_ms")
        b["requests"] += 1
        b["errors"] += 1 if r["status"] >= 400 else 0
        b["cache_hits"] += 1 if r.get("cache") in _CACHE_HITS else 0
        b["prompt_tokens"] += r["prompt_tokens"]
        b["completion_tokens"] += r["completion_tokens"]
        b["cached_tokens"] += r["cached_tokens"]
        b["cost_usd"] += r["cost_usd"]
        b["latency_ms_sum"] += r["latency_ms"]
        if ttft is not None:
            b["ttft_ms_sum"] += ttft
            b["ttft_count"] += 1
    return out


def _values(key: BucketKey, sums: Mapping[str, float]) -> dict[str, Any]:
    row: dict[str, Any] = dict(zip(KEYS, key, strict=True))
    for name in SUMS:
        v = sums[name]
        row[name] = v if name in ("cost_usd", "latency_ms_sum", "ttft_ms_sum") else int(v)
    return row


async def apply_rollups(conn: AsyncConnection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Add ``rows`` (just inserted into usage_records on ``conn``) to the hourly rollups."""
    buckets = fold(rows)
    if not buckets:
        return
    values = [_values(k, s) for k, s in sorted(buckets.items())]
    dialect = conn.dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(usage_rollups)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(KEYS),
        set_={name: usage_rollups.c[name] + stmt.excluded[name] for name in SUMS},
    )
    await conn.execute(stmt, values)
