"""A circuit breaker per deployment: closed → open → half_open → closed.

* closed → open when, over a rolling window of at least ``min_calls`` calls, the
  failure rate reaches ``failure_rate``; or after ``consecutive_failures`` in a row.
* open → half_open once ``open_s`` has passed (checked lazily on the next call).
* half_open admits exactly ``half_open_probes`` probe calls; it closes after that many
  successes and reopens on any probe failure.

Every admitted call holds a :class:`Permit` that must come back exactly once through
``record_success``, ``record_failure`` or ``record_ignored`` (a cancelled call uses
the latter), so probe counts stay exact however many calls run concurrently.  Results
of permits issued in an earlier state are ignored.

Failures are the upstream's fault only: client errors, upstream 4xx rejections,
context-length errors and the gateway's own errors are ignored.  An upstream 429
starts a cool-down for its ``retry-after`` (a 503/529 with ``retry-after`` does too)
and by default is not a failure.

Failures are also attributed to the caller that made the call (``allow(now, caller)``;
see :mod:`lockgate.resilience.callers`), so one caller that makes the upstream fail
cannot take the deployment away from everyone:

* Each caller with an upstream fault gets a breaker of its own (same thresholds).  When
  it opens, only that caller is refused here.
* While other callers used the deployment within the window, the deployment's breaker
  opens for everyone only on the evidence without the worst caller: failures in a row
  not counting the run's most frequent caller, or the failure rate over the window's
  calls not counting the caller with the most failures.
* A deployment only one caller used keeps the plain rule (a single-tenant install sees
  no change), but the breaker remembers who opened it: another caller arriving while
  it is open is let through as a probe.  Its success closes the breaker (the caller
  that opened it stays cut off by its own breaker); its failure keeps it open for all.
* In half-open, a failed probe from a caller already cut off on its own is that
  caller's, and frees the probe slot instead of reopening.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from lockgate.errors import (
    ContextWindowExceededError,
    GatewayError,
    UpstreamClientError,
    UpstreamError,
    UpstreamRateLimitedError,
)
from lockgate.resilience.callers import CallerEvents, CallerListener, CallerTable
from lockgate.resilience.cooldown import Cooldown
from lockgate.resilience.window import RollingPair

__all__ = [
    "BreakerConfig",
    "BreakerListener",
    "BreakerState",
    "CircuitBreaker",
    "Permit",
    "is_upstream_fault",
]

BreakerState = Literal["closed", "open", "half_open"]


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    #: Trip when failures / calls in the window reaches this share...
    failure_rate: float = 0.5
    #: ...provided the window holds at least this many calls.
    min_calls: int = 20
    window_s: float = 30.0
    buckets: int = 10
    #: Trip after this many failures in a row whatever the rate (0 disables).
    consecutive_failures: int = 5
    #: Time spent open before probing.
    open_s: float = 30.0
    half_open_probes: int = 3
    #: Whether an upstream 429 also counts as a breaker failure.
    rate_limit_is_failure: bool = False
    #: Cool-down after a 429 that carries no ``retry-after``.
    rate_limit_cooldown_s: float = 5.0
    #: Upper bound on any cool-down, however long the ``retry-after``.
    max_cooldown_s: float = 300.0
    #: Attribute failures to callers (``allow(now, caller)``); off: one breaker for all.
    per_caller: bool = True
    #: Callers tracked per deployment (least recently used dropped first).
    max_callers: int = 1000

    def __post_init__(self) -> None:
        if not 0.0 < self.failure_rate <= 1.0:
            raise ValueError("failure_rate must be in (0, 1]")
        if self.min_calls < 1 or self.half_open_probes < 1 or self.consecutive_failures < 0:
            raise ValueError("min_calls and half_open_probes must be at least 1")
        if self.open_s < 0 or self.rate_limit_cooldown_s < 0 or self.max_cooldown_s < 0:
            raise ValueError("durations must be non-negative")
        if self.max_callers < 1:
            raise ValueError("max_callers must be at least 1")


class BreakerListener(Protocol):
    """Receives breaker events, e.g. to update metrics; must be cheap and not raise."""

    def state_changed(
        self, name: str, old: BreakerState, new: BreakerState, now: float
    ) -> None: ...

    def cooldown_started(self, name: str, seconds: float, now: float) -> None: ...


class Permit:
    """The right to make one call; hand it back to the breaker exactly once."""

    __slots__ = ("caller", "done", "generation", "own", "owner", "probe")

    def __init__(self, generation: int, probe: bool, caller: str | None = None) -> None:
        self.generation = generation
        self.probe = probe
        self.done = False
        #: who makes the call (None: not attributed)
        self.caller = caller
        #: the caller's own breaker and its permit, if the caller had one when admitted
        self.owner: CircuitBreaker | None = None
        self.own: Permit | None = None


def is_upstream_fault(error: GatewayError) -> bool:
    """Whether ``error`` says something bad about the deployment (a breaker failure).

    Client errors, the provider rejecting the request (4xx, context length) and the
    gateway's own failures do not.
    """
    # ContextWindowExceededError is an UpstreamError, not an UpstreamClientError.
    return isinstance(error, UpstreamError) and not isinstance(
        error, UpstreamClientError | ContextWindowExceededError
    )


class CircuitBreaker:
    """Breaker state of one deployment, driven by the caller's monotonic ``now``."""

    __slots__ = (
        "_callers",
        "_calls",
        "_consecutive",
        "_cooldown",
        "_generation",
        "_last_caller",
        "_mixed_until",
        "_opened_at",
        "_opened_by",
        "_probe_successes",
        "_probes_out",
        "_rate_limited_until",
        "_run",
        "_state",
        "config",
        "listener",
        "name",
    )

    def __init__(
        self,
        name: str,
        config: BreakerConfig | None = None,
        *,
        listener: BreakerListener | None = None,
        caller_listener: CallerListener | None = None,
    ) -> None:
        self.name = name
        self.config = cfg = config or BreakerConfig()
        self.listener = listener
        self._state: BreakerState = "closed"
        self._generation = 0
        # a = successes, b = failures, over the rolling window (closed state only).
        self._calls = RollingPair(cfg.window_s, cfg.buckets)
        self._consecutive = 0
        self._opened_at = 0.0
        self._probes_out = 0
        self._probe_successes = 0
        self._cooldown = Cooldown()
        #: end of the latest cooldown a provider rate limit (429) started
        self._rate_limited_until = 0.0
        #: the caller whose failures alone opened the breaker (others may probe it)
        self._opened_by: str | None = None
        #: the caller of the latest result, and until when another one was seen too
        self._last_caller: str | None = None
        self._mixed_until = 0.0
        #: failures by caller in the current run of failures (no success between)
        self._run: dict[str, int] = {}
        self._callers: CallerTable | None = None
        if cfg.per_caller:
            own_cfg = dataclasses.replace(cfg, per_caller=False)

            def make(caller: str) -> CircuitBreaker:
                events = None if caller_listener is None else CallerEvents(caller, caller_listener)
                return CircuitBreaker(name, own_cfg, listener=events)

            self._callers = CallerTable(
                name,
                make,
                cfg.max_callers,
                None if caller_listener is None else caller_listener.callers_tracked,
            )

    # -- state -----------------------------------------------------------------

    def _move(self, new: BreakerState, now: float, opened_by: str | None = None) -> None:
        old = self._state
        self._state = new
        self._generation += 1
        self._probes_out = 0
        self._probe_successes = 0
        self._opened_by = opened_by
        if new == "open":
            self._opened_at = now
        elif new == "closed":
            self._calls.reset()
            self._consecutive = 0
            self._run.clear()
        if self.listener is not None:
            self.listener.state_changed(self.name, old, new, now)

    def state(self, now: float) -> BreakerState:
        """Current state; an open breaker whose ``open_s`` has passed becomes half-open."""
        if self._state == "open" and now >= self._opened_at + self.config.open_s:
            self._move("half_open", now)
        return self._state

    def _bystander(self, caller: str | None) -> bool:
        """Whether ``caller`` may probe an open breaker that one other caller opened."""
        opened_by = self._opened_by
        return (
            opened_by is not None
            and caller is not None
            and caller != opened_by
            and self._probes_out < self.config.half_open_probes
        )

    def _admits(self, state: BreakerState, caller: str | None) -> bool:
        """Whether an open or half-open breaker lets one more call by ``caller`` through."""
        if state == "open":
            return self._bystander(caller)
        return self._probes_out + self._probe_successes < self.config.half_open_probes

    def _own(self, caller: str | None) -> CircuitBreaker | None:
        callers = self._callers
        if callers is None or caller is None:
            return None
        return callers.get(caller)

    def available(self, now: float, caller: str | None = None) -> bool:
        """Whether :meth:`allow` would grant a permit now (no side effect besides ``state``)."""
        state = self.state(now)
        if self._cooldown.active(now):
            return False
        if state != "closed" and not self._admits(state, caller):
            return False
        callers = self._callers
        if callers is None or caller is None:
            return True
        own = callers.get(caller)
        return own is None or now >= self._mixed_until or own.available(now)

    def available_in(self, now: float, caller: str | None = None) -> float:
        """Seconds until the deployment may be available again (0.0 if it is now)."""
        wait = self._cooldown.remaining(now)
        if self.state(now) == "open" and not self._bystander(caller):
            wait = max(wait, self._opened_at + self.config.open_s - now)
        own = self._own(caller)
        if own is not None and self._mixed(now):
            wait = max(wait, own.available_in(now))
        return wait

    def rate_limited(self, now: float) -> bool:
        """Whether calls are refused only because the provider rate-limited this deployment."""
        return (
            self._cooldown.active(now)
            and self._cooldown.until <= self._rate_limited_until
            and self.state(now) != "open"
        )

    def allow(self, now: float, caller: str | None = None) -> Permit | None:
        """A permit for one call by ``caller``, or ``None`` if the breaker refuses it now."""
        state = self.state(now)
        if self._cooldown.active(now):
            return None
        if state != "closed" and not self._admits(state, caller):
            return None
        callers = self._callers
        own = None if callers is None or caller is None else callers.get(caller)
        own_permit = None
        if own is not None:
            own_permit = own.allow(now)
            if own_permit is None and now < self._mixed_until:
                return None
        probe = state != "closed"
        if probe:
            self._probes_out += 1
        permit = Permit(self._generation, probe, caller)
        if own_permit is not None:
            permit.owner = own
            permit.own = own_permit
        return permit

    def cool_down(self, now: float, seconds: float) -> None:
        """Refuse calls for ``seconds`` (capped by ``max_cooldown_s``)."""
        seconds = min(seconds, self.config.max_cooldown_s)
        self._cooldown.start(now, seconds)
        if self.listener is not None:
            self.listener.cooldown_started(self.name, seconds, now)

    # -- results ---------------------------------------------------------------

    def _take(self, permit: Permit) -> bool:
        """Mark ``permit`` returned; whether its result still concerns the current state."""
        if permit.done:
            return False
        permit.done = True
        if permit.generation != self._generation:
            return False
        if permit.probe:
            self._probes_out -= 1
        return True

    def _seen(self, caller: str, now: float) -> None:
        """Note who the latest result came from (is another caller using it too?)."""
        last = self._last_caller
        if caller != last:
            if last is not None:
                self._mixed_until = now + self.config.window_s
            self._last_caller = caller

    def _mixed(self, now: float) -> bool:
        """Whether more than one caller had results here within the window."""
        return now < self._mixed_until

    def record_success(self, permit: Permit, now: float) -> None:
        owner = permit.owner
        if owner is not None and permit.own is not None:
            owner.record_success(permit.own, now)
            assert self._callers is not None and permit.caller is not None
            self._callers.drop_if_clean(permit.caller, owner)
        caller = permit.caller
        if caller is not None and caller != self._last_caller:
            self._seen(caller, now)
        if not self._take(permit):
            return
        if permit.probe:
            if self._state == "open":
                # A bystander got through a breaker one caller's failures opened: the
                # deployment works; that caller stays cut off by its own breaker.
                culprit = self._opened_by
                self._move("closed", now)
                if culprit is not None and self._callers is not None:
                    self._callers.ensure(culprit).isolate(now)
                return
            self._probe_successes += 1
            if self._probe_successes >= self.config.half_open_probes:
                self._move("closed", now)
            return
        self._consecutive = 0
        if self._run:
            self._run.clear()
        self._calls.add(now, a=1)

    def record_ignored(self, permit: Permit) -> None:
        """Return a permit whose call says nothing about the upstream (cancelled, client error)."""
        if permit.owner is not None and permit.own is not None:
            permit.owner.record_ignored(permit.own)
        self._take(permit)

    def record_failure(self, permit: Permit, now: float, error: GatewayError) -> None:
        """Return a permit whose call failed with ``error``; only upstream faults count."""
        if isinstance(error, UpstreamRateLimitedError):
            retry_after = error.retry_after
            self.cool_down(
                now, self.config.rate_limit_cooldown_s if retry_after is None else retry_after
            )
            self._rate_limited_until = self._cooldown.until
            if not self.config.rate_limit_is_failure:
                self.record_ignored(permit)
                return
        elif not is_upstream_fault(error):
            self.record_ignored(permit)
            return
        elif error.retry_after is not None and error.retry_after > 0:
            self.cool_down(now, error.retry_after)
        caller = permit.caller
        if caller is None or self._callers is None:
            self._count_failure(permit, now)
            return
        cut_off, just_cut_off = self._charge(permit, caller, now)
        self._seen(caller, now)
        if not self._take(permit):
            return
        if permit.probe:
            if self._state == "open":
                # A bystander failed too: down for more than one caller.
                self._move("open", now)
            elif not (cut_off and self._mixed(now)):
                self._move("open", now, None if self._mixed(now) else caller)
            # else: the probe failed for a caller already cut off on its own: its slot
            # is free again and the deployment stays half-open for the others.
            return
        self._consecutive += 1
        self._calls.add(now, b=1)
        run = self._run
        run[caller] = run.get(caller, 0) + 1
        if not self._mixed(now):
            self._trip_check(now, caller)
            return
        # Other callers used it too: decide without the worst caller.  A second caller
        # cut off on its own is not explained by one caller either.
        if just_cut_off and self._callers.open_count(now) >= 2:
            self._move("open", now)
            return
        cfg = self.config
        if (
            cfg.consecutive_failures
            and self._consecutive >= cfg.consecutive_failures
            and self._consecutive - max(run.values()) >= cfg.consecutive_failures
        ):
            self._move("open", now)
            return
        calls = self._calls.total_a + self._calls.total_b
        failures = self._calls.total_b
        if calls >= cfg.min_calls and failures >= cfg.failure_rate * calls:
            worst_calls, worst_failures = self._callers.worst(now)
            calls = max(0, calls - worst_calls)
            failures = max(0, failures - worst_failures)
            if calls >= cfg.min_calls and failures >= cfg.failure_rate * calls:
                self._move("open", now)

    def _charge(self, permit: Permit, caller: str, now: float) -> tuple[bool, bool]:
        """Count an upstream fault on ``caller``'s own breaker: whether it is open now,
        and whether this failure opened it."""
        assert self._callers is not None
        own = self._callers.ensure(caller)
        was_open = own.state(now) == "open"
        own_permit = permit.own if permit.owner is own else own.allow(now)
        if own_permit is None or not own._count_failure(own_permit, now):
            # Still this caller's failure (a call admitted before its breaker opened):
            # counted for attribution, so the others' evidence leaves it out.
            own._calls.add(now, b=1)
        cut_off = own._state == "open"
        return cut_off, cut_off and not was_open

    def _count_failure(self, permit: Permit, now: float) -> bool:
        """An upstream fault, judged on this breaker's own counts (the plain rule);
        whether it went into the window."""
        if not self._take(permit):
            return False
        if permit.probe:
            self._move("open", now)
            return False
        self._consecutive += 1
        self._calls.add(now, b=1)
        self._trip_check(now, None)
        return True

    def _trip_check(self, now: float, caller: str | None) -> None:
        cfg = self.config
        if cfg.consecutive_failures and self._consecutive >= cfg.consecutive_failures:
            self._move("open", now, caller)
            return
        calls = self._calls.total_a + self._calls.total_b
        if calls >= cfg.min_calls and self._calls.total_b >= cfg.failure_rate * calls:
            self._move("open", now, caller)

    def isolate(self, now: float) -> None:
        """Open this (a caller's own) breaker now, unless it already is."""
        if self._state != "open":
            self._move("open", now)

    # -- reporting ---------------------------------------------------------------

    def clean(self) -> bool:
        """Closed, with no failure in the window (a caller's breaker worth forgetting)."""
        return self._state == "closed" and self._calls.total_b == 0 and self._consecutive == 0

    def window_counts(self, now: float) -> tuple[int, int]:
        """(calls, failures) in the rolling window."""
        self._calls.advance(now)
        return self._calls.total_a + self._calls.total_b, self._calls.total_b

    def snapshot(self, now: float) -> dict[str, Any]:
        """A JSON-ready view for ``/api/stats``."""
        state = self.state(now)
        calls, failures = self.window_counts(now)
        out: dict[str, Any] = {
            "name": self.name,
            "state": state,
            "calls": calls,
            "failures": failures,
            "failure_rate": failures / calls if calls else 0.0,
            "consecutive_failures": self._consecutive,
            "probes_in_flight": self._probes_out,
            "probe_successes": self._probe_successes,
            "cooldown_remaining_s": self._cooldown.remaining(now),
            "available_in_s": self.available_in(now),
        }
        if self._callers is not None:
            out["opened_by"] = self._opened_by
            out["callers"] = self._callers.snapshot(now)
        return out
