"""Operational event lines: what an operator needs to see beside the access log.

One warning line per failed upstream attempt saying what happens next (retry,
fallback, give up), one per circuit-breaker transition and deployment cool-down.
Limiter outages and writer failures log from their own modules.  Storms are kept
readable by the handler's per-message budget (``lockgate.logs.RateLimitFilter``),
so these lines are written unconditionally here and cost nothing on a request
that succeeds first time.
"""

from __future__ import annotations

import logging

from lockgate.context import RequestContext
from lockgate.errors import GatewayError
from lockgate.resilience import BreakerListener, Fallback, GiveUp, Retry
from lockgate.resilience.breaker import BreakerState
from lockgate.resilience.callers import CallerListener
from lockgate.resilience.retry_plan import Decision

__all__ = ["BreakerLog", "note_failed_attempt"]

_upstream = logging.getLogger("lockgate.upstream")
_breaker = logging.getLogger("lockgate.breaker")


def note_failed_attempt(
    ctx: RequestContext, deployment: str | None, error: GatewayError, decision: Decision
) -> None:
    """One line for a failed attempt (or none available) and the decision that follows."""
    if not _upstream.isEnabledFor(logging.WARNING):
        return
    fields: dict[str, object] = {
        "request_id": ctx.request_id,
        "deployment": deployment,
        "attempt": ctx.attempts,
        "status": error.status,
        "error_code": error.code,
        "error": error.message[:300],
    }
    if isinstance(decision, Retry):
        msg = "upstream error; retrying"
        fields["retry_in_s"] = round(decision.delay, 3)
    elif isinstance(decision, Fallback):
        msg = "upstream error; falling back"
        fields["fallback"] = decision.alias
    else:
        assert isinstance(decision, GiveUp)
        msg = "upstream error; giving up"
        fields["reason"] = decision.reason
    _upstream.warning(msg, extra=fields)


class BreakerLog:
    """A breaker listener that logs transitions, then hands each event on (to metrics)."""

    def __init__(self, inner: BreakerListener | None = None) -> None:
        self._inner = inner
        self._callers = inner if isinstance(inner, CallerListener) else None

    def state_changed(self, name: str, old: BreakerState, new: BreakerState, now: float) -> None:
        level = logging.INFO if new == "closed" else logging.WARNING
        _breaker.log(level, "circuit breaker %s", new, extra={"deployment": name, "was": old})
        if self._inner is not None:
            self._inner.state_changed(name, old, new, now)

    def cooldown_started(self, name: str, seconds: float, now: float) -> None:
        _breaker.warning(
            "deployment cooling down", extra={"deployment": name, "seconds": round(seconds, 3)}
        )
        if self._inner is not None:
            self._inner.cooldown_started(name, seconds, now)

    def caller_state_changed(
        self, name: str, caller: str, old: BreakerState, new: BreakerState, now: float
    ) -> None:
        """One caller's own breaker on ``name``: open means only that caller is cut off."""
        level = logging.INFO if new == "closed" else logging.WARNING
        _breaker.log(
            level,
            "circuit breaker %s for one caller",
            new,
            extra={"deployment": name, "caller": caller, "was": old},
        )
        if self._callers is not None:
            self._callers.caller_state_changed(name, caller, old, new, now)

    def callers_tracked(self, name: str, count: int) -> None:
        if self._callers is not None:
            self._callers.callers_tracked(name, count)
