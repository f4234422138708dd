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
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

from lockgate.errors import (
    ContextWindowExceededError,
    GatewayError,
    UpstreamClientError,
    UpstreamError,
    UpstreamRateLimitedError,
)
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

    def __post_init__(self) -> None:
        if not 0.0 < self.failure_rate <= 1.0:
            raise ValueError("failure_rate must be in (0, 1]")
        if self.min_calls < 1 or self.half_open_probes < 1 or self.consecutive_failures < 0:
            raise ValueError("min_calls and half_open_probes must be at least 1")
        if self.open_s < 0 or self.rate_limit_cooldown_s < 0 or self.max_cooldown_s < 0:
            raise ValueError("durations must be non-negative")


class BreakerListener(Protocol):
    """Receives breaker events, e.g. to update metrics; must be cheap and not raise."""

    def state_changed(
        self, name: str, old: BreakerState, new: BreakerState, now: float
    ) -> None: ...

    def cooldown_started(self, name: str, seconds: float, now: float) -> None: ...


class Permit:
    """The right to make one call; hand it back to the breaker exactly once."""

    __slots__ = ("done", "generation", "probe")

    def __init__(self, generation: int, probe: bool) -> None:
        self.generation = generation
        self.probe = probe
        self.done = False


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
        "_calls",
        "_consecutive",
        "_cooldown",
        "_generation",
        "_opened_at",
        "_probe_successes",
        "_probes_out",
        "_rate_limited_until",
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
    ) -> None:
        self.name = name
        self.config = config or BreakerConfig()
        self.listener = listener
        self._state: BreakerState = "closed"
        self._generation = 0
        # a = successes, b = failures, over the rolling window (closed state only).
        self._calls = RollingPair(self.config.window_s, self.config.buckets)
        self._consecutive = 0
        self._opened_at = 0.0
        self._probes_out = 0
        self._probe_successes = 0
        self._cooldown = Cooldown()
        #: end of the latest cooldown a provider rate limit (429) started
        self._rate_limited_until = 0.0

    # -- state -----------------------------------------------------------------

    def _move(self, new: BreakerState, now: float) -> None:
        old = self._state
        self._state = new
        self._generation += 1
        self._probes_out = 0
        self._probe_successes = 0
        if new == "open":
            self._opened_at = now
        elif new == "closed":
            self._calls.reset()
            self._consecutive = 0
        if self.listener is not None:
            self.listener.state_changed(self.name, old, new, now)

    def state(self, now: float) -> BreakerState:
        """Current state; an open breaker whose ``open_s`` has passed becomes half-open."""
        if self._state == "open" and now >= self._opened_at + self.config.open_s:
            self._move("half_open", now)
        return self._state

    def available(self, now: float) -> bool:
        """Whether :meth:`allow` would grant a permit now (no side effect besides ``state``)."""
        state = self.state(now)
        if state == "open" or self._cooldown.active(now):
            return False
        if state == "half_open":
            return self._probes_out + self._probe_successes < self.config.half_open_probes
        return True

    def available_in(self, now: float) -> float:
        """Seconds until the deployment may be available again (0.0 if it is now)."""
        wait = self._cooldown.remaining(now)
        if self.state(now) == "open":
            wait = max(wait, self._opened_at + self.config.open_s - now)
        return wait

    def rate_limited(self, now: float) -> bool:
        """Whether calls are refused only because the provider rate-limited this deployment."""
        return (
            self._cooldown.active(now)
            and self._cooldown.until <= self._rate_limited_until
            and self.state(now) != "open"
        )

    def allow(self, now: float) -> Permit | None:
        """A permit for one call, or ``None`` if the breaker refuses it now."""
        state = self.state(now)
        if state == "open" or self._cooldown.active(now):
            return None
        if state == "half_open":
            if self._probes_out + self._probe_successes >= self.config.half_open_probes:
                return None
            self._probes_out += 1
            return Permit(self._generation, True)
        return Permit(self._generation, False)

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

    def record_success(self, permit: Permit, now: float) -> None:
        if not self._take(permit):
            return
        if permit.probe:
            self._probe_successes += 1
            if self._probe_successes >= self.config.half_open_probes:
                self._move("closed", now)
            return
        self._consecutive = 0
        self._calls.add(now, a=1)

    def record_ignored(self, permit: Permit) -> None:
        """Return a permit whose call says nothing about the upstream (cancelled, client error)."""
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
        if not self._take(permit):
            return
        if permit.probe:
            self._move("open", now)
            return
        self._consecutive += 1
        self._calls.add(now, b=1)
        cfg = self.config
        if cfg.consecutive_failures and self._consecutive >= cfg.consecutive_failures:
            self._move("open", now)
            return
        calls = self._calls.total_a + self._calls.total_b
        if calls >= cfg.min_calls and self._calls.total_b >= cfg.failure_rate * calls:
            self._move("open", now)

    # -- reporting ---------------------------------------------------------------

    def snapshot(self, now: float) -> dict[str, Any]:
        """A JSON-ready view for ``/api/stats``."""
        state = self.state(now)
        self._calls.advance(now)
        calls = self._calls.total_a + self._calls.total_b
        return {
            "name": self.name,
            "state": state,
            "calls": calls,
            "failures": self._calls.total_b,
            "failure_rate": self._calls.total_b / calls if calls else 0.0,
            "consecutive_failures": self._consecutive,
            "probes_in_flight": self._probes_out,
            "probe_successes": self._probe_successes,
            "cooldown_remaining_s": self._cooldown.remaining(now),
            "available_in_s": self.available_in(now),
        }
