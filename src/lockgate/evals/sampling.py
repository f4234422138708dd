"""Which finished requests the online evaluator scores, and how fast it may (pure)."""

from __future__ import annotations

from dataclasses import dataclass

from lockgate.evals.config import OnlineSettings

__all__ = ["DailyBudget", "TokenBucket", "sample_rate"]


def sample_rate(cfg: OnlineSettings, model: str, prompt_version: str | None) -> float:
    """The prompt version's rate if configured, else the alias's, else the default."""
    if prompt_version is not None and prompt_version in cfg.prompt_versions:
        return cfg.prompt_versions[prompt_version]
    return cfg.aliases.get(model, cfg.sample_rate)


@dataclass(slots=True)
class TokenBucket:
    """``rate_per_minute`` calls, bursts up to ``burst``; time passed in."""

    rate_per_minute: float
    burst: float
    tokens: float
    updated: float

    @classmethod
    def full(cls, rate_per_minute: float, now: float, burst: float | None = None) -> TokenBucket:
        b = burst if burst is not None else max(1.0, rate_per_minute / 60.0)
        return cls(rate_per_minute, b, b, now)

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(self.burst, self.tokens + elapsed * self.rate_per_minute / 60.0)
        self.updated = now

    def wait_time(self, now: float) -> float:
        """Seconds until one call may start (0: now)."""
        self._refill(now)
        if self.tokens >= 1.0:
            return 0.0
        return (1.0 - self.tokens) * 60.0 / self.rate_per_minute

    def take(self, now: float) -> bool:
        self._refill(now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@dataclass(slots=True)
class DailyBudget:
    """USD spent per UTC day against a limit."""

    limit_usd: float
    day: str = ""
    spent: float = 0.0

    def allows(self, day: str) -> bool:
        if day != self.day:
            self.day, self.spent = day, 0.0
        return self.spent < self.limit_usd

    def charge(self, day: str, usd: float) -> None:
        if day != self.day:
            self.day, self.spent = day, 0.0
        self.spent += usd
