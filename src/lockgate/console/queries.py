"""Console aggregates, read from ``usage_rollups`` only (never from usage_records)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from lockgate.console.rollups import usage_rollups

__all__ = ["ModelRow", "by_model"]


@dataclass(frozen=True, slots=True)
class ModelRow:
    model: str
    requests: int
    errors: int
    cache_hits: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    avg_latency_ms: float
    avg_ttft_ms: float | None

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


async def by_model(
    engine: AsyncEngine, since_hour: int, key_id: str | None = None
) -> list[ModelRow]:
    """Totals per model over hours >= ``since_hour`` (one key's only when ``key_id``)."""
    t = usage_rollups.c
    stmt: Any = (
        sa.select(
            t.model,
            *(
                sa.func.sum(t[c]).label(c)
                for c in (
                    "requests",
                    "errors",
                    "cache_hits",
                    "prompt_tokens",
                    "completion_tokens",
                    "cost_usd",
                    "latency_ms_sum",
                    "ttft_ms_sum",
                    "ttft_count",
                )
            ),
        )
        .where(t.hour >= since_hour)
        .group_by(t.model)
        .order_by(t.model)
    )
    if key_id is not None:
        stmt = stmt.where(t.key_id == key_id)
    async with engine.connect() as conn:
        rows = (await conn.execute(stmt)).mappings().all()
    out = []
    for m in rows:
        n = int(m["requests"] or 0)
        tc = int(m["ttft_count"] or 0)
        out.append(
            ModelRow(
                model=m["model"],
                requests=n,
                errors=int(m["errors"] or 0),
                cache_hits=int(m["cache_hits"] or 0),
                prompt_tokens=int(m["prompt_tokens"] or 0),
                completion_tokens=int(m["completion_tokens"] or 0),
                cost_usd=float(m["cost_usd"] or 0.0),
                avg_latency_ms=float(m["latency_ms_sum"] or 0.0) / n if n else 0.0,
                avg_ttft_ms=float(m["ttft_ms_sum"] or 0.0) / tc if tc else None,
            )
        )
    return out
