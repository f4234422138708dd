"""The limiter: turns a request's rules into one atomic reserve, then reconciles actual usage.

Usage::

    limiter = Limiter(store, time.time)
    rules = [
        LimitRule.requests("key:abc", "100/minute"),
        LimitRule.tokens("key:abc", "50000/minute"),
        LimitRule.concurrent("key:abc", 4),
        LimitRule.spend("team:a", 25.0, "month"),
    ]
    reservation = await limiter.reserve(rules, tokens=prompt_tokens + max_tokens, cost=estimate)
    try:
        response = await call_provider(...)
    finally:
        await limiter.finish(reservation, tokens=usage.total_tokens, cost=actual_cost)
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lockgate.errors import BudgetExceededError, RateLimitError
from lockgate.limits.algorithm import remaining_and_reset
from lockgate.limits.budget import current_period
from lockgate.limits.headers import rate_limit_headers
from lockgate.limits.rules import BudgetPeriod, LimitRule
from lockgate.limits.store import Adjustment, Check, LimitStore, StoreDecision

__all__ = [
    "BudgetRejectedError",
    "Decision",
    "LimitRejectedError",
    "LimitState",
    "Limiter",
    "Reservation",
]


@dataclass(frozen=True, slots=True)
class LimitState:
    """One limit after a decision: what the rate-limit headers report."""

    rule: LimitRule
    limit: float
    remaining: float
    #: Seconds until the limit is back to its full amount (budgets: until the period ends).
    reset: float


@dataclass(frozen=True, slots=True)
class Decision:
    """Outcome of a reserve: admitted or not, why, and the state of every limit."""

    allowed: bool
    retry_after: float
    rejected: LimitRule | None
    states: tuple[LimitState, ...]
    #: The store was unreachable and ``fail_open`` admitted without checking.
    degraded: bool = False
    #: Tokens the request asked for, for the message when they can never fit.
    tokens: int = 0

    def message(self) -> str:
        """Client-facing reason: ``Rate limit exceeded for key 'a': 100/hour requests; ...``."""
        rule = self.rejected
        if rule is None:
            return "Request admitted"
        who = f"{rule.subject_type} '{rule.subject_name}'"
        wait = math.ceil(self.retry_after)
        if rule.kind == "spend":
            return f"Budget exceeded for {who}: {rule.describe()}; resets in {wait} s"
        if rule.kind == "tokens" and rule.rate is not None and self.tokens > rule.rate.amount:
            return (
                f"Request needs {self.tokens} tokens, more than the limit for {who}: "
                f"{rule.describe()}; reduce max_tokens or the prompt"
            )
        what = "Concurrency limit" if rule.kind == "concurrent" else "Rate limit"
        return f"{what} exceeded for {who}: {rule.describe()}; retry after {wait} s"


class LimitRejectedError(RateLimitError):
    """429: a request, token or concurrency limit rejected the request."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(
            decision.message(),
            retry_after=decision.retry_after,
            headers=rate_limit_headers(decision.states, retry_after=decision.retry_after),
        )
        self.decision = decision


class BudgetRejectedError(BudgetExceededError):
    """429 insufficient_quota: a spend budget is used up for this period."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(
            decision.message(),
            retry_after=decision.retry_after,
            headers=rate_limit_headers(decision.states, retry_after=decision.retry_after),
        )
        self.decision = decision


class Reservation:
    """What a reserve took, so that reconcile and release can put it right afterwards."""

    __slots__ = ("_released", "_settled", "checks", "cost", "decision", "lease", "rules", "tokens")

    def __init__(
        self,
        rules: tuple[LimitRule, ...],
        checks: tuple[Check, ...],
        decision: Decision,
        tokens: int,
        cost: float,
        lease: str,
    ) -> None:
        self.rules = rules
        self.checks = checks
        self.decision = decision
        #: Tokens and USD actually taken (zero when a degraded reserve took nothing).
        self.tokens = tokens
        self.cost = cost
        self.lease = lease
        self._settled = False
        self._released = False

    @property
    def states(self) -> tuple[LimitState, ...]:
        return self.decision.states


_NOTHING = StoreDecision(True, -1, 0.0, ())


class Limiter:
    """Checks every limit of a request at once against a ``LimitStore``; all or nothing."""

    def __init__(
        self, store: LimitStore, clock: Callable[[], float], *, lease_ttl: float = 300.0
    ) -> None:
        """``lease_ttl``: seconds a concurrency slot stays taken if its holder never releases
        it (a crashed replica); call ``renew`` for calls that may run longer."""
        self._store = store
        self._clock = clock
        self._lease_ttl = lease_ttl
        self._periods: dict[BudgetPeriod, tuple[float, float, str]] = {}

    async def reserve(
        self, rules: Sequence[LimitRule], *, tokens: int = 0, cost: float = 0.0
    ) -> Reservation:
        """Take one request, ``tokens`` (estimate) and ``cost`` (estimated USD) from every rule.

        Rules are expected to have distinct keys; of rules sharing a key the first one wins.

        Raises ``LimitRejectedError`` or ``BudgetRejectedError`` (nothing taken), or
        ``ServiceUnavailableError`` when the store is down and fails closed.  A negative
        ``tokens`` or ``cost`` counts as zero: a reservation is never a credit, and one
        larger than a rule's capacity is rejected, never taken.
        """
        tokens = tokens if tokens > 0 else 0
        cost = cost if cost > 0 else 0.0
        now = self._clock()
        unique = tuple(rules)
        if len({rule.key for rule in unique}) != len(unique):
            # Two checks on one key would both read the old state and both take.
            unique = tuple({rule.key: rule for rule in reversed(unique)}.values())[::-1]
        lease = ""
        checks: list[Check] = []
        for rule in unique:
            rate = rule.rate
            if rule.kind == "requests" and rate is not None:
                checks.append(Check(rule.key, "gcra", rate.amount, rate.seconds, 1.0))
            elif rule.kind == "tokens" and rate is not None:
                checks.append(Check(rule.key, "gcra", rate.amount, rate.seconds, float(tokens)))
            elif rule.kind == "concurrent":
                lease = lease or secrets.token_hex(8)
                checks.append(Check(rule.key, "lease", rule.amount, self._lease_ttl, 1.0, lease))
            elif rule.period is not None:
                period_id, left = self._period(now, rule.period)
                checks.append(Check(f"{rule.key}:{period_id}", "budget", rule.amount, left, cost))
        result = await self._store.reserve(checks, now) if checks else _NOTHING
        decision = _decision(unique, checks, result, tokens)
        if not decision.allowed:
            if decision.rejected is not None and decision.rejected.kind == "spend":
                raise BudgetRejectedError(decision)
            raise LimitRejectedError(decision)
        taken = not result.degraded
        return Reservation(
            unique, tuple(checks), decision, tokens if taken else 0, cost if taken else 0.0, lease
        )

    def _period(self, now: float, period: BudgetPeriod) -> tuple[str, float]:
        """``current_period``, remembered until the period ends (it is hot-path work)."""
        cached = self._periods.get(period)
        if cached is not None and cached[0] <= now < cached[1]:
            return cached[2], cached[1] - now
        period_id, left = current_period(now, period)
        self._periods[period] = (now, now + left, period_id)
        return period_id, left

    async def reconcile(self, reservation: Reservation, *, tokens: int, cost: float) -> bool:
        """Charge actual ``tokens`` and ``cost`` in place of the estimates (once; later calls do
        nothing). ``False`` if the store was unreachable. Costs land in the budget period the
        request was reserved in, even when it finishes after midnight."""
        return await self._settle(reservation, tokens, cost, release=False)

    async def release(self, reservation: Reservation) -> bool:
        """Give the concurrency slots back (idempotent)."""
        return await self._settle(reservation, None, None, release=True)

    async def finish(self, reservation: Reservation, *, tokens: int, cost: float) -> bool:
        """``reconcile`` and ``release`` in one round trip: call it when the call is over."""
        return await self._settle(reservation, tokens, cost, release=True)

    async def renew(self, reservation: Reservation) -> bool:
        """Extend the concurrency leases by ``lease_ttl`` from now (for long streams)."""
        adjustments = [
            Adjustment(c.key, "renew", c.limit, self._lease_ttl, 0.0, c.member)
            for c in reservation.checks
            if c.algo == "lease"
        ]
        return await self._store.settle(adjustments, self._clock())

    async def _settle(
        self, reservation: Reservation, tokens: int | None, cost: float | None, *, release: bool
    ) -> bool:
        adjustments: list[Adjustment] = []
        if tokens is not None and cost is not None and not reservation._settled:
            reservation._settled = True
            # One request is charged at most a rule's capacity (one period's wait), and
            # never less than nothing, whatever the provider reports.
            used = tokens if tokens > 0 else 0
            cost_delta = (cost if cost > 0 else 0.0) - reservation.cost
            for rule, check in zip(reservation.rules, reservation.checks, strict=True):
                if rule.kind == "tokens":
                    cap = check.limit
                    token_delta = float(min(used, cap) - min(reservation.tokens, cap))
                    if token_delta:
                        adjustments.append(
                            Adjustment(check.key, "gcra", check.limit, check.period, token_delta)
                        )
                elif rule.kind == "spend" and cost_delta:
                    adjustments.append(
                        Adjustment(check.key, "budget", check.limit, check.period, cost_delta)
                    )
        if release and not reservation._released:
            reservation._released = True
            adjustments.extend(
                Adjustment(c.key, "release", c.limit, c.period, 0.0, c.member)
                for c in reservation.checks
                if c.algo == "lease"
            )
        if not adjustments:
            return True
        return await self._store.settle(adjustments, self._clock())


def _decision(
    rules: tuple[LimitRule, ...], checks: list[Check], result: StoreDecision, tokens: int
) -> Decision:
    states: tuple[LimitState, ...] = ()
    if result.levels:
        states = tuple(
            LimitState(
                rule,
                check.limit,
                *remaining_and_reset(check.algo, level, check.limit, check.period),
            )
            for rule, check, level in zip(rules, checks, result.levels, strict=True)
        )
    rejected = rules[result.rejected] if result.rejected >= 0 else None
    return Decision(result.allowed, result.retry_after, rejected, states, result.degraded, tokens)
