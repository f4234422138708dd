"""How many times and how patiently one alias is retried."""

from __future__ import annotations

import random
from dataclasses import dataclass

from lockgate.resilience.backoff import Jitter, compute_backoff, retry_delay

__all__ = ["RetryPolicy"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retry settings for one alias; defaults follow openai-python (0.5 s doubling to 8 s).

    ``max_attempts`` counts every attempt on one alias, the first included; a fallback
    alias starts again from one.
    """

    max_attempts: int = 3
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 8.0
    jitter: Jitter = "full"
    #: Longest upstream ``retry-after`` worth waiting for inside one request.
    max_retry_after_s: float = 60.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.backoff_base_s < 0 or self.backoff_cap_s < 0 or self.max_retry_after_s < 0:
            raise ValueError("delays must be non-negative")

    def delay(self, retry: int, retry_after: float | None, rng: random.Random) -> float | None:
        """Wait before retry number ``retry`` on the same upstream (``None``: do not wait)."""
        return retry_delay(
            retry,
            retry_after,
            base=self.backoff_base_s,
            cap=self.backoff_cap_s,
            max_retry_after=self.max_retry_after_s,
            rng=rng,
            jitter=self.jitter,
        )

    def switch_delay(self, retry: int, rng: random.Random) -> float:
        """Wait before retry number ``retry`` on a *different* deployment.

        The failed deployment's ``retry-after`` does not concern the next one, so only
        the jittered backoff applies (it still spreads a burst of failovers).
        """
        return compute_backoff(
            retry, base=self.backoff_base_s, cap=self.backoff_cap_s, rng=rng, jitter=self.jitter
        )
