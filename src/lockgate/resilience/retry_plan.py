"""What to do after a failed attempt: retry the alias, fall back to another, or give up.

A :class:`RetryPlan` lives for one client request.  It does no waiting and no I/O:
the caller's async loop acquires a deployment, calls it, reports the outcome and
acts on the returned :data:`Decision` (sleep ``Retry.delay``, switch to
``Fallback.alias``, or raise ``GiveUp.error``).

Fallback chains come from config: ``fallbacks: {alias: [alias2, alias3]}`` for
retryable failures once an alias is out of attempts (or of time, budget or
patience), and ``context_window_fallbacks`` only for
:class:`~lockgate.errors.ContextWindowExceededError`.  The chain of the current alias
is followed first, then the requested alias's; no alias is visited twice.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from lockgate.errors import (
    ContextWindowExceededError,
    GatewayError,
    UpstreamOverloadedError,
    UpstreamRateLimitedError,
)
from lockgate.resilience.classify import should_retry
from lockgate.resilience.deadline import Deadline
from lockgate.resilience.retry_budget import RetryBudget
from lockgate.resilience.retry_policy import RetryPolicy

__all__ = [
    "Decision",
    "Fallback",
    "FallbackChains",
    "GiveUp",
    "GiveUpReason",
    "Retry",
    "RetryPlan",
]

GiveUpReason = Literal[
    "not_retryable",
    "attempts_exhausted",
    "budget_exhausted",
    "deadline",
    "retry_after_too_long",
    "no_deployment",
]


@dataclass(frozen=True, slots=True)
class Retry:
    """Try the same alias again after ``delay`` seconds (an untried deployment preferred)."""

    delay: float


@dataclass(frozen=True, slots=True)
class Fallback:
    """Continue on ``alias`` now; the plan has already switched to it."""

    alias: str
    reason: GiveUpReason | Literal["context_window"]


@dataclass(frozen=True, slots=True)
class GiveUp:
    """Stop and report ``error`` to the client."""

    error: GatewayError
    reason: GiveUpReason


Decision = Retry | Fallback | GiveUp


@dataclass(frozen=True, slots=True)
class FallbackChains:
    fallbacks: Mapping[str, Sequence[str]] = field(default_factory=dict)
    context_window: Mapping[str, Sequence[str]] = field(default_factory=dict)

    def next_alias(
        self, current: str, requested: str, visited: Sequence[str], *, context_window: bool
    ) -> str | None:
        table = self.context_window if context_window else self.fallbacks
        for chain in (table.get(current, ()), table.get(requested, ())):
            for alias in chain:
                if alias not in visited:
                    return alias
        return None


class RetryPlan:
    """Attempt bookkeeping and retry decisions for one client request."""

    __slots__ = (
        "_budget",
        "alias",
        "attempt",
        "chains",
        "deadline",
        "last_error",
        "policy",
        "requested",
        "rng",
        "total_attempts",
        "tried",
        "visited",
    )

    def __init__(
        self,
        alias: str,
        *,
        policy: RetryPolicy,
        deadline: Deadline,
        rng: random.Random,
        now: float,
        chains: FallbackChains | None = None,
        budget: RetryBudget | Mapping[str, RetryBudget] | None = None,
        counted: bool = False,
    ) -> None:
        """``counted``: the request is already in ``alias``'s retry budget (a caller that
        made its first attempt before it needed a plan counted it then)."""
        self.requested = alias
        self.alias = alias
        self.policy = policy
        self.deadline = deadline
        self.rng = rng
        self.chains = chains or FallbackChains()
        self._budget = budget
        #: Aliases used so far, in order.
        self.visited: list[str] = [alias]
        #: Attempts made on the current alias.
        self.attempt = 0
        self.total_attempts = 0
        #: Deployments of the current alias tried by this request.
        self.tried: set[str] = set()
        self.last_error: GatewayError | None = None
        if not counted:
            self._record_request(alias, now)

    def _budget_for(self, alias: str) -> RetryBudget | None:
        budget = self._budget
        if budget is None or isinstance(budget, RetryBudget):
            return budget
        return budget.get(alias)

    def _record_request(self, alias: str, now: float) -> None:
        budget = self._budget_for(alias)
        if budget is not None:
            budget.record_request(now)

    def begin_attempt(self, deployment: str) -> int:
        """Note an attempt on ``deployment`` of the current alias; returns its number (1-based)."""
        self.tried.add(deployment)
        self.attempt += 1
        self.total_attempts += 1
        return self.attempt

    def _switch(self, alias: str, now: float) -> None:
        self.alias = alias
        self.visited.append(alias)
        self.attempt = 0
        self.tried = set()
        self._record_request(alias, now)

    def _fallback_or_give_up(
        self, error: GatewayError, reason: GiveUpReason, now: float
    ) -> Decision:
        if self.deadline.expired(now):
            return GiveUp(error, "deadline")
        nxt = self.chains.next_alias(self.alias, self.requested, self.visited, context_window=False)
        if nxt is None:
            return GiveUp(error, reason)
        self._switch(nxt, now)
        return Fallback(nxt, reason)

    def on_failure(self, error: GatewayError, now: float, *, can_switch: bool = False) -> Decision:
        """Decide after an attempt failed with ``error``.

        ``can_switch`` says whether another (untried, available) deployment of the
        current alias exists; then the failed deployment's ``retry-after`` is not
        waited for, only the jittered backoff.
        """
        self.last_error = error
        if isinstance(error, ContextWindowExceededError):
            nxt = self.chains.next_alias(
                self.alias, self.requested, self.visited, context_window=True
            )
            if nxt is None or self.deadline.expired(now):
                return GiveUp(error, "not_retryable")
            self._switch(nxt, now)
            return Fallback(nxt, "context_window")
        if not should_retry(error):
            return GiveUp(error, "not_retryable")
        if self.deadline.expired(now):
            return GiveUp(error, "deadline")
        if self.attempt >= self.policy.max_attempts:
            return self._fallback_or_give_up(error, "attempts_exhausted", now)
        retry = max(1, self.attempt)
        if can_switch:
            delay: float | None = self.policy.switch_delay(retry, self.rng)
        else:
            delay = self.policy.delay(retry, error.retry_after, self.rng)
        if delay is None:
            return self._fallback_or_give_up(error, "retry_after_too_long", now)
        if delay >= self.deadline.remaining(now):
            return self._fallback_or_give_up(error, "deadline", now)
        budget = self._budget_for(self.alias)
        if budget is not None and not budget.try_spend_retry(now):
            return self._fallback_or_give_up(error, "budget_exhausted", now)
        return Retry(delay)

    def on_unavailable(
        self,
        now: float,
        *,
        available_in: float = 0.0,
        rate_limited: bool = False,
        caller_cut_off: bool = False,
    ) -> Decision:
        """Decide when no deployment of the current alias can take a call.

        ``available_in`` is how soon one may be back (``Balancer.available_in``).  If
        this request's last failure was a 429, the deployments are only cooling down
        for their ``retry-after``: that wait is treated like a retry.  Otherwise (open
        breakers, or a fresh request) the plan fails fast: next alias, or give up.
        A fresh request finding every deployment ``rate_limited`` (cooling down after
        the provider's 429) gets a 429 with the wait, so clients back off as they would
        from the provider itself rather than treat the gateway as down.  ``caller_cut_off``
        says the deployments refuse this caller only (its own calls kept failing
        upstream), which the 503's message says.
        """
        error = self.last_error
        if error is None and rate_limited:
            return self._fallback_or_give_up(
                UpstreamRateLimitedError(
                    f"every deployment of {self.alias!r} is rate-limited by its provider;"
                    f" retry in {max(available_in, 0.0):.1f} s",
                    retry_after=available_in if available_in > 0 else None,
                ),
                "no_deployment",
                now,
            )
        if error is None:
            whose = (
                " to this caller: its recent requests kept failing upstream"
                if caller_cut_off
                else ""
            )
            return self._fallback_or_give_up(
                UpstreamOverloadedError(
                    f"no deployment of {self.alias!r} is available{whose}",
                    code="no_available_deployment",
                    retry_after=available_in if available_in > 0 else None,
                    public=True,
                ),
                "no_deployment",
                now,
            )
        # The deployments may only be cooling down for the ``retry-after`` the provider
        # sent (a 429, or a 503 with Retry-After): that wait is a retry. The loop's timer
        # can also wake the retry a hair before the cool-down ends.
        if (
            (isinstance(error, UpstreamRateLimitedError) or error.retry_after is not None)
            and should_retry(error)
            and 0.0 < available_in <= self.policy.max_retry_after_s
            and self.attempt < self.policy.max_attempts
            and available_in < self.deadline.remaining(now)
        ):
            budget = self._budget_for(self.alias)
            if budget is None or budget.try_spend_retry(now):
                return Retry(available_in)
        return self._fallback_or_give_up(error, "no_deployment", now)
