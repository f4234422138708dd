"""Console aggregates, read from the rollup tables only (never from usage_records).

Every query takes an optional ``key_id``: a key's own view reads its rows of the daily
rollup, so it never sees another key's numbers (its granularity is then a day).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from lockgate.console.histogram import percentile
from lockgate.storage.lean_import import lazy_module

if TYPE_CHECKING:
    import sqlalchemy as sa
    from sqlalchemy.ext.asyncio import AsyncEngine

    from lockgate.console import rollups
else:  # imported on first use (storage/lean_import.py)
    sa = lazy_module("sqlalchemy")
    rollups = lazy_module("lockgate.console.rollups")

__all__ = [
    "GROUPS",
    "Group",
    "ModelRow",
    "Percentiles",
    "UsageRow",
    "by_model",
    "hourly_percentile",
    "hourly_series",
    "percentiles",
    "usage_by",
]

Group = Literal["key", "team", "user", "model", "day"]
GROUPS: tuple[Group, ...] = ("key", "team", "user", "model", "day")
DAY_S = 86400


@dataclass(frozen=True, slots=True)
class UsageRow:
    """Sums for one group value (a key id, team, user, model or day start)."""

    label: str
    requests: int
    errors: int
    cache_hits: int
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    cost_usd: float
    avg_latency_ms: float
    avg_ttft_ms: float | None
    #: what cache hits saved
    saved_usd: float = 0.0

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    @property
    def cache_hit_rate(self) -> float:
        return self.cache_hits / self.requests if self.requests else 0.0

    @property
    def model(self) -> str:
        return self.label


ModelRow = UsageRow


def _sum_columns(t: sa.Table) -> list[Any]:
    return [sa.func.sum(t.c[c]).label(c) for c in rollups.SUMS]


def _row(label: str, m: Any) -> UsageRow:
    n = int(m["requests"] or 0)
    tc = int(m["ttft_count"] or 0)
    return UsageRow(
        label=label,
        requests=n,
        errors=int(m["errors"] or 0),
        cache_hits=int(m["cache_hits"] or 0),
        prompt_tokens=int(m["prompt_tokens"] or 0),
        completion_tokens=int(m["completion_tokens"] or 0),
        cached_tokens=int(m["cached_tokens"] or 0),
        cost_usd=float(m["cost_usd"] or 0.0),
        avg_latency_ms=float(m["latency_ms_sum"] or 0.0) / n if n else 0.0,
        avg_ttft_ms=float(m["ttft_ms_sum"] or 0.0) / tc if tc else None,
        saved_usd=float(m["saved_usd"] or 0.0),
    )


async def _fetch(engine: AsyncEngine, stmt: Any) -> list[UsageRow]:
    async with engine.connect() as conn:
        rows = (await conn.execute(stmt)).mappings().all()
    return [_row(str(m["label"]), m) for m in rows]


async def usage_by(
    engine: AsyncEngine,
    group: Group,
    since: int,
    until: int | None = None,
    key_id: str | None = None,
) -> list[UsageRow]:
    """Sums per ``group`` over [since, until) (epoch seconds), most spent first.

    ``model`` and ``day`` read the hourly rollup (hour precision); ``key``, ``team`` and
    ``user`` read the daily one (day precision).  With ``key_id`` everything reads that
    key's daily rows, and ``team`` and ``user`` are refused (they name other keys' users).
    """
    if key_id is not None or group in ("key", "team", "user"):
        t = rollups.usage_daily
        if key_id is not None and group in ("team", "user"):
            raise ValueError(f"a key's own view cannot group by {group}")
        label: Any = {"model": t.c.model, "day": t.c.day}.get(group, t.c.value)
        where = [t.c.day >= since // DAY_S * DAY_S]
        if until is not None:
            where.append(t.c.day < until)
        if key_id is not None:
            where += [t.c.dim == "key", t.c.value == key_id]
        else:
            where.append(t.c.dim == group)
    else:
        t = rollups.usage_hourly
        label = t.c.model if group == "model" else t.c.hour // DAY_S * DAY_S
        where = [t.c.hour >= since // 3600 * 3600]
        if until is not None:
            where.append(t.c.hour < until)
    stmt = sa.select(label.label("label"), *_sum_columns(t)).where(*where).group_by(label)
    rows = await _fetch(engine, stmt)
    if group == "day":
        return sorted(rows, key=lambda r: int(r.label))
    return sorted(rows, key=lambda r: (-r.cost_usd, -r.requests, r.label))


async def by_model(
    engine: AsyncEngine, since_hour: int, key_id: str | None = None
) -> list[UsageRow]:
    """Totals per model over hours >= ``since_hour``, by model name."""
    rows = await usage_by(engine, "model", since_hour, key_id=key_id)
    return sorted(rows, key=lambda r: r.label)


async def hourly_series(
    engine: AsyncEngine, since_hour: int, until_hour: int, model: str | None = None
) -> list[tuple[int, UsageRow]]:
    """Every hour in [since_hour, until_hour) with its sums over all models, or over
    ``model`` only (zeros filled)."""
    t = rollups.usage_hourly
    where = [t.c.hour >= since_hour, t.c.hour < until_hour]
    if model is not None:
        where.append(t.c.model == model)
    stmt = sa.select(t.c.hour.label("label"), *_sum_columns(t)).where(*where).group_by(t.c.hour)
    found = {int(r.label): r for r in await _fetch(engine, stmt)}
    empty = _row("", dict.fromkeys(rollups.SUMS, 0))
    return [(h, found.get(h, empty)) for h in range(since_hour, until_hour, 3600)]


@dataclass(frozen=True, slots=True)
class Percentiles:
    """P50/P95/P99 of one metric (ms), read from summed hourly histograms, and their n."""

    n: int
    p50: float | None
    p95: float | None
    p99: float | None


async def percentiles(engine: AsyncEngine, since_hour: int) -> dict[tuple[str, str], Percentiles]:
    """(model, "latency"|"ttft") -> percentiles over hours >= ``since_hour``."""
    t = rollups.usage_latency
    stmt = (
        sa.select(t.c.model, t.c.metric, t.c.bucket, sa.func.sum(t.c.count))
        .where(t.c.hour >= since_hour)
        .group_by(t.c.model, t.c.metric, t.c.bucket)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(stmt)).all()
    hists: dict[tuple[str, str], dict[int, int]] = {}
    for model, metric, bucket, count in rows:
        hists.setdefault((model, metric), {})[int(bucket)] = int(count)
    return {
        key: Percentiles(sum(h.values()), percentile(h, 50), percentile(h, 95), percentile(h, 99))
        for key, h in hists.items()
    }


async def hourly_percentile(
    engine: AsyncEngine,
    metric: str,
    q: float,
    since_hour: int,
    until_hour: int,
    model: str | None = None,
) -> list[tuple[int, float | None]]:
    """Every hour in [since_hour, until_hour) with the ``q``-th percentile of ``metric``
    ("latency" or "ttft") over all models or ``model``, from the hourly histograms
    (None: no data)."""
    t = rollups.usage_latency
    where = [t.c.metric == metric, t.c.hour >= since_hour, t.c.hour < until_hour]
    if model is not None:
        where.append(t.c.model == model)
    stmt = (
        sa.select(t.c.hour, t.c.bucket, sa.func.sum(t.c.count))
        .where(*where)
        .group_by(t.c.hour, t.c.bucket)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(stmt)).all()
    hists: dict[int, dict[int, int]] = {}
    for hour, bucket, count in rows:
        hists.setdefault(int(hour), {})[int(bucket)] = int(count)
    return [
        (h, percentile(hists[h], q) if h in hists else None)
        for h in range(since_hour, until_hour, 3600)
    ]
