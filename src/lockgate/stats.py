"""In-process counters behind GET /api/stats.

Counts are exact since start-up; latency and time-to-first-token percentiles
(P50/P95/P99) are over each model's most recent ``window`` requests, kept in a
fixed ring so recording costs O(1) and memory stays bounded.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from lockgate.promptcache.savings import PromptCacheStats

__all__ = ["Ring", "Stats", "percentile"]

_WINDOW = 2048


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """The nearest-rank ``q``-th percentile (0 < q <= 100) of already sorted values."""
    n = len(sorted_values)
    if n == 0:
        return None
    rank = max(1, math.ceil(q / 100.0 * n))
    return sorted_values[min(rank, n) - 1]


class Ring:
    """The last ``size`` values pushed."""

    __slots__ = ("_i", "_size", "_values")

    def __init__(self, size: int) -> None:
        self._size = size
        self._values: list[float] = []
        self._i = 0

    def push(self, value: float) -> None:
        v = self._values
        if len(v) < self._size:
            v.append(value)
        else:
            v[self._i] = value
            self._i = (self._i + 1) % self._size

    def summary(self) -> dict[str, float | None]:
        ordered = sorted(self._values)
        return {
            "p50": _ms(percentile(ordered, 50)),
            "p95": _ms(percentile(ordered, 95)),
            "p99": _ms(percentile(ordered, 99)),
            "samples": len(ordered),
        }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000.0, 3)


def _rate(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


@dataclass(slots=True)
class _ModelStats:
    window: int
    requests: int = 0
    errors: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    saved_usd: float = 0.0
    latency: Ring = field(init=False)
    ttft: Ring = field(init=False)

    def __post_init__(self) -> None:
        self.latency = Ring(self.window)
        self.ttft = Ring(self.window)

    def to_json(self) -> dict[str, Any]:
        n = self.requests
        return {
            "requests": n,
            "errors": self.errors,
            "success_rate": _rate(n - self.errors, n),
            "cache_hits": self.cache_hits,
            "cache_hit_rate": _rate(self.cache_hits, n),
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost_usd": round(self.cost_usd, 8),
            "cache_saved_usd": round(self.saved_usd, 8),
            "latency_ms": self.latency.summary(),
            "ttft_ms": self.ttft.summary(),
        }


@dataclass(slots=True)
class Stats:
    total_requests: int = 0
    errors: int = 0
    cache_hits: int = 0
    cost_usd: float = 0.0
    saved_usd: float = 0.0
    window: int = _WINDOW
    models: dict[str, _ModelStats] = field(default_factory=dict)
    prompt_cache: PromptCacheStats = field(default_factory=PromptCacheStats)

    def record(
        self,
        model: str,
        *,
        ok: bool,
        cache_hit: bool,
        prompt_tokens: int,
        completion_tokens: int,
        cost: float,
        latency: float | None = None,
        ttft: float | None = None,
        saved: float = 0.0,
    ) -> None:
        m = self.models.get(model)
        if m is None:
            m = self.models[model] = _ModelStats(self.window)
        self.total_requests += 1
        m.requests += 1
        if not ok:
            self.errors += 1
            m.errors += 1
        if cache_hit:
            self.cache_hits += 1
            m.cache_hits += 1
        m.prompt_tokens += prompt_tokens
        m.completion_tokens += completion_tokens
        m.cost_usd += cost
        self.cost_usd += cost
        if saved:
            m.saved_usd += saved
            self.saved_usd += saved
        if latency is not None:
            m.latency.push(latency)
        if ttft is not None:
            m.ttft.push(ttft)

    def snapshot(self) -> dict[str, Any]:
        n = self.total_requests
        return {
            "total_requests": n,
            "cache_hits": self.cache_hits,
            "cache_hit_rate": _rate(self.cache_hits, n),
            "errors": self.errors,
            "error_rate": _rate(self.errors, n),
            "success_rate": _rate(n - self.errors, n),
            "cost_usd": round(self.cost_usd, 8),
            "cache_saved_usd": round(self.saved_usd, 8),
            "models": {name: m.to_json() for name, m in self.models.items()},
            "prompt_cache": self.prompt_cache.snapshot(),
        }
