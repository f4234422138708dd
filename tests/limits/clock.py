"""A test clock the tests move by hand."""

from __future__ import annotations

__all__ = ["Clock"]


class Clock:
    """Seconds since the epoch, standing still until ``advance`` is called."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
