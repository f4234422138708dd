"""In-process counters behind GET /api/stats (the reference guide's endpoint)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Stats"]


@dataclass(slots=True)
class _ModelStats:
    requests: int = 0
    errors: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0


@dataclass(slots=True)
class Stats:
    total_requests: int = 0
    errors: int = 0
    cache_hits: int = 0
    models: dict[str, _ModelStats] = field(default_factory=dict)

    def record(
        self,
        model: str,
        *,
        ok: bool,
        cache_hit: bool,
        prompt_tokens: int,
        completion_tokens: int,
        cost: float,
    ) -> None:
        m = self.models.get(model)
        if m is None:
            m = self.models[model] = _ModelStats()
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

    def snapshot(self) -> dict[str, Any]:
        n = self.total_requests
        return {
            "total_requests": n,
            "cache_hits": self.cache_hits,
            "cache_hit_rate": self.cache_hits / n if n else 0.0,
            "errors": self.errors,
            "error_rate": self.errors / n if n else 0.0,
            "models": {
                name: {
                    "requests": m.requests,
                    "errors": m.errors,
                    "cache_hits": m.cache_hits,
                    "prompt_tokens": m.prompt_tokens,
                    "completion_tokens": m.completion_tokens,
                    "cost_usd": round(m.cost_usd, 8),
                }
                for name, m in self.models.items()
            },
        }
