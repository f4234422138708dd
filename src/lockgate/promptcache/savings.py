"""What providers' prompt caches saved, for /api/stats (in-process, since start-up)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lockgate.chat import Usage

__all__ = ["PromptCacheStats"]


@dataclass(slots=True)
class _Tally:
    requests: int = 0
    prompt_tokens: int = 0
    read_tokens: int = 0
    write_tokens: int = 0
    cost_usd: float = 0.0
    uncached_cost_usd: float = 0.0

    def add(self, usage: Usage, cost: float, uncached: float) -> None:
        self.requests += 1
        self.prompt_tokens += usage.prompt_tokens
        self.read_tokens += usage.cached_tokens
        self.write_tokens += usage.cache_write_tokens
        self.cost_usd += cost
        self.uncached_cost_usd += uncached

    def to_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "prompt_tokens": self.prompt_tokens,
            "cache_read_tokens": self.read_tokens,
            "cache_write_tokens": self.write_tokens,
            "cached_share": self.read_tokens / self.prompt_tokens if self.prompt_tokens else 0.0,
            "cost_usd": round(self.cost_usd, 8),
            "cost_without_cache_usd": round(self.uncached_cost_usd, 8),
            # writes cost more than plain input: a cold cache saves a negative amount
            "saved_usd": round(self.uncached_cost_usd - self.cost_usd, 8),
        }


@dataclass(slots=True)
class PromptCacheStats:
    """Answered requests' prompt-cache use: all of them, and those auto_cache marked."""

    all: _Tally = field(default_factory=_Tally)
    auto: _Tally = field(default_factory=_Tally)

    def record(self, usage: Usage, cost: float, uncached: float, *, auto: bool) -> None:
        self.all.add(usage, cost, uncached)
        if auto:
            self.auto.add(usage, cost, uncached)

    def snapshot(self) -> dict[str, Any]:
        return {**self.all.to_json(), "auto_cache": self.auto.to_json()}
