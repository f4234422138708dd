"""A deployment's "come back later" period, set by an upstream 429 or ``retry-after``."""

from __future__ import annotations

__all__ = ["Cooldown"]


class Cooldown:
    """Unavailable until a monotonic instant; extending never shortens it."""

    __slots__ = ("until",)

    def __init__(self) -> None:
        self.until = 0.0

    def start(self, now: float, seconds: float) -> float:
        """Cool down for ``seconds`` from ``now`` (or keep a later end); returns the end."""
        end = now + max(0.0, seconds)
        if end > self.until:
            self.until = end
        return self.until

    def active(self, now: float) -> bool:
        return now < self.until

    def remaining(self, now: float) -> float:
        return max(0.0, self.until - now)

    def clear(self) -> None:
        self.until = 0.0
