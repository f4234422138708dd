"""The pure arithmetic of the limits; the Redis Lua script mirrors it line for line.

Windowed limits (requests, tokens) use GCRA in its leaky-bucket "meter" form: each limit keeps
one level ``used`` (units taken and not yet drained) and the time ``t`` it was written. The
level drains continuously at ``limit / period`` units per second, and a request of ``cost``
units is admitted while ``used + cost <= limit``. Why this and not a window counter:

- exact: a fixed window admits up to twice the rate across a boundary, the sliding-window
  counter only approximates; GCRA is exact for any ``now`` and takes variable costs (tokens).
- O(1) state per limit (two numbers), where a sliding log keeps one entry per unit taken.
- no drift with replicas: the check-and-take is one atomic step on the shared state, and the
  state holds absolute time, so N replicas together admit exactly ``limit`` per period.
- refunds are a subtraction (token reconcile), and "reset" is simply ``used * period / limit``,
  which is what OpenAI's ``x-ratelimit-reset-*`` headers mean.

The level is stored rather than GCRA's theoretical arrival time because the level stays
within ``[0, limit]``, so its float keeps ~1e-16 relative precision, where a TAT near an epoch
timestamp (1.8e9 s) loses microseconds with every addition.
"""

from __future__ import annotations

__all__ = [
    "EPSILON",
    "budget_admits",
    "drained",
    "gcra_admits",
    "gcra_wait",
    "remaining_and_reset",
]

#: Units of slack in comparisons, far below one request or token, so float residue of the
#: drain never turns an exact fit into a rejection.
EPSILON = 1e-9


def drained(used: float, t: float, now: float, limit: float, period: float) -> float:
    """The level at ``now`` of a meter left at ``used`` at time ``t``."""
    if limit <= 0:
        return used
    elapsed = now - t
    if elapsed <= 0:  # a replica whose clock lags must not refill anyone's bucket
        return used
    level = used - elapsed * limit / period
    return level if level > 0 else 0.0


def gcra_admits(level: float, cost: float, limit: float) -> bool:
    """Whether ``cost`` units fit on a meter at ``level`` (a zero cost needs one free unit)."""
    need = cost if cost > 0 else 1.0
    return level + need <= limit + EPSILON


def gcra_wait(level: float, cost: float, limit: float, period: float) -> float:
    """Seconds until ``cost`` units fit; ``period`` if they never can (``cost > limit``)."""
    if limit <= 0:
        return period
    need = cost if cost > 0 else 1.0
    if need > limit + EPSILON:
        return period
    wait = (level + need - limit) * period / limit
    return wait if wait > 0 else 0.0


def budget_admits(spent: float, cost: float, limit: float) -> bool:
    """Whether an estimated ``cost`` fits in the budget and some budget is left at all."""
    return spent + cost <= limit + EPSILON and spent < limit - EPSILON


def remaining_and_reset(
    algo: str, level: float, limit: float, period: float
) -> tuple[float, float]:
    """What the headers report for a check at ``level``: units left and seconds to a full
    reset (a meter's drain time; a budget's period end; a lease has none)."""
    remaining = limit - level
    if remaining < EPSILON:
        remaining = 0.0
    if algo == "gcra":
        return remaining, level * period / limit if limit > 0 else 0.0
    if algo == "budget":
        return remaining, period
    return remaining, 0.0
