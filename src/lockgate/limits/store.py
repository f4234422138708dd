"""The seam between the limiter and its storage: plain checks in, one decision out.

A store applies a whole list of checks atomically: either every check passes and all of them
are taken, or nothing is written. Stores hold no clock; the limiter passes ``now`` in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

__all__ = [
    "Adjustment",
    "Check",
    "CheckAlgo",
    "FailureMode",
    "LimitStore",
    "SettleOp",
    "StoreDecision",
]

#: ``gcra``: windowed meter (requests, tokens); ``lease``: concurrency slots with expiry;
#: ``budget``: a spend total for one calendar period.
CheckAlgo = Literal["gcra", "lease", "budget"]
#: What a store does when its backend is unreachable.
FailureMode = Literal["fail_open", "fail_closed"]
#: ``gcra``/``budget``: add ``delta`` (negative refunds); ``release``/``renew``: a lease.
SettleOp = Literal["gcra", "budget", "release", "renew"]


@dataclass(frozen=True, slots=True)
class Check:
    """One limit to check and take.

    ``gcra``: ``limit`` units per ``period`` seconds, take ``cost`` units.
    ``lease``: ``limit`` slots, take one slot named ``member`` for ``period`` seconds.
    ``budget``: ``limit`` USD, take ``cost`` USD; the period ends in ``period`` seconds.
    """

    key: str
    algo: CheckAlgo
    limit: float
    period: float
    cost: float
    member: str = ""


@dataclass(frozen=True, slots=True)
class Adjustment:
    """A change after the fact: reconcile usage, release or renew a lease."""

    key: str
    op: SettleOp
    limit: float
    period: float
    delta: float = 0.0
    member: str = ""


@dataclass(frozen=True, slots=True)
class StoreDecision:
    """Outcome of one atomic reserve.

    ``levels[i]`` is the level of check ``i`` after the decision (taken if allowed, untouched
    if not): units on the meter, slots held, USD spent; see ``algorithm.remaining_and_reset``.
    ``rejected`` is the index of the check that needs the longest wait, or -1. ``degraded``
    means the backend was unreachable and ``fail_open`` admitted (``levels`` is then empty).
    """

    allowed: bool
    rejected: int
    retry_after: float
    levels: tuple[float, ...]
    degraded: bool = False


class LimitStore(Protocol):
    """Atomic storage of limit state (``memory://`` or ``redis://``)."""

    async def reserve(self, checks: Sequence[Check], now: float) -> StoreDecision:
        """Check every limit and take all of them, or none if any rejects.

        Raises ``ServiceUnavailableError`` when the backend is down and the store fails closed.
        """
        ...

    async def settle(self, adjustments: Sequence[Adjustment], now: float) -> bool:
        """Apply adjustments atomically; ``False`` if the backend was unreachable (never raises
        for an outage: the request they account for has already happened)."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...
