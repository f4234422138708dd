"""A retry budget: retries may add at most a share of the traffic, so outages are not amplified.

As in Finagle's ``RetryBudget`` and Envoy's ``retry_budget``: over a rolling window,
retries are allowed while ``retries < ratio * requests + min_per_second * window``.
The ``min_per_second`` reserve lets a quiet gateway still retry its few failures.
"""

from __future__ import annotations

from lockgate.resilience.window import RollingPair

__all__ = ["RetryBudget"]


class RetryBudget:
    """Counts requests and retries over ``window_s`` seconds of the caller's monotonic clock."""

    __slots__ = ("_counts", "min_per_second", "ratio", "window_s")

    def __init__(
        self,
        *,
        ratio: float = 0.2,
        min_per_second: float = 10.0,
        window_s: float = 10.0,
        buckets: int = 10,
    ) -> None:
        if ratio < 0 or min_per_second < 0:
            raise ValueError("ratio and min_per_second must be non-negative")
        self.ratio = ratio
        self.min_per_second = min_per_second
        self.window_s = window_s
        # a = original requests, b = retries spent.
        self._counts = RollingPair(window_s, buckets)

    def record_request(self, now: float) -> None:
        """Count one original (non-retry) request."""
        self._counts.add(now, a=1)

    def allowed(self, now: float) -> float:
        """How many retries the current window allows in total."""
        self._counts.advance(now)
        return self.ratio * self._counts.total_a + self.min_per_second * self.window_s

    def try_spend_retry(self, now: float) -> bool:
        """Take one retry from the budget; ``False`` (and nothing taken) once it is spent."""
        allowed = self.allowed(now)  # advances the window before total_b is read
        if self._counts.total_b + 1 > allowed:
            return False
        self._counts.add(now, b=1)
        return True

    def snapshot(self, now: float) -> dict[str, float]:
        """Window counts for ``/api/stats``."""
        allowed = self.allowed(now)
        return {
            "requests": self._counts.total_a,
            "retries": self._counts.total_b,
            "allowed": allowed,
        }
