"""Exponential backoff with jitter, as a pure function of the attempt number.

Modelled on stamina's ``_compute_backoff``: no sleeping here, the caller's async loop
waits.  "Full" jitter spreads retries over ``[0, d]`` and "equal" jitter over
``[d/2, d]`` (AWS Architecture Blog, "Exponential Backoff and Jitter"), where
``d = min(cap, base * 2**(attempt-1))``.
"""

from __future__ import annotations

import random
from typing import Literal

__all__ = ["Jitter", "compute_backoff", "retry_delay"]

Jitter = Literal["full", "equal", "none"]


def compute_backoff(
    attempt: int,
    *,
    base: float,
    cap: float,
    rng: random.Random,
    jitter: Jitter = "full",
) -> float:
    """Seconds to wait before retry number ``attempt`` (1 = the first retry)."""
    if attempt < 1:
        raise ValueError("attempt counts retries from 1")
    # Bound the exponent so huge attempt numbers cannot overflow a float.
    ceiling = min(cap, base * 2.0 ** min(attempt - 1, 62))
    if jitter == "full":
        return rng.uniform(0.0, ceiling)
    if jitter == "equal":
        half = ceiling / 2.0
        return half + rng.uniform(0.0, half)
    return ceiling


def retry_delay(
    attempt: int,
    retry_after: float | None,
    *,
    base: float,
    cap: float,
    max_retry_after: float,
    rng: random.Random,
    jitter: Jitter = "full",
) -> float | None:
    """Seconds to wait before retrying the same upstream, or ``None`` for "do not wait".

    An upstream ``retry_after`` up to ``max_retry_after`` is honoured as given; above
    it, waiting is pointless within one request, so ``None`` tells the caller to fail
    over to another deployment or alias instead.  Without ``retry_after`` the jittered
    exponential backoff applies.
    """
    if retry_after is not None:
        if retry_after > max_retry_after:
            return None
        return retry_after
    return compute_backoff(attempt, base=base, cap=cap, rng=rng, jitter=jitter)
