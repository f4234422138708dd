"""Two counters summed over a rolling time window, kept in a ring of buckets."""

from __future__ import annotations

import math

__all__ = ["RollingPair"]


class RollingPair:
    """Counts ``(a, b)`` over the last ``window_s`` seconds, at ``window_s / buckets`` grain.

    Totals are maintained incrementally, so ``add`` and ``totals`` are O(1) amortised.
    """

    __slots__ = ("_a", "_b", "_bucket_s", "_current", "total_a", "total_b")

    def __init__(self, window_s: float, buckets: int = 10) -> None:
        if window_s <= 0 or buckets < 1:
            raise ValueError("window_s must be positive and buckets at least 1")
        self._bucket_s = window_s / buckets
        self._a = [0] * buckets
        self._b = [0] * buckets
        self._current: int | None = None
        self.total_a = 0
        self.total_b = 0

    def reset(self) -> None:
        for i in range(len(self._a)):
            self._a[i] = 0
            self._b[i] = 0
        self.total_a = 0
        self.total_b = 0

    def advance(self, now: float) -> int:
        """Expire buckets older than the window; returns the slot for ``now``."""
        index = math.floor(now / self._bucket_s)
        current = self._current
        n = len(self._a)
        if current is None or index - current >= n:
            self.reset()
        elif index > current:
            a, b = self._a, self._b
            for step in range(current + 1, index + 1):
                slot = step % n
                self.total_a -= a[slot]
                self.total_b -= b[slot]
                a[slot] = 0
                b[slot] = 0
        else:
            # A clock read slightly out of order lands in the newest bucket.
            index = current
        self._current = index
        return index % n

    def add(self, now: float, a: int = 0, b: int = 0) -> None:
        slot = self.advance(now)
        self._a[slot] += a
        self._b[slot] += b
        self.total_a += a
        self.total_b += b
