"""Circuit breaker transitions, exact half-open probes, ignored errors and cool-downs."""

from __future__ import annotations

import pytest

from lockgate.errors import (
    BadRequestError,
    ContextWindowExceededError,
    InternalError,
    UpstreamClientError,
    UpstreamConnectionError,
    UpstreamError,
    UpstreamOverloadedError,
    UpstreamRateLimitedError,
    UpstreamTimeoutError,
)
from lockgate.resilience import (
    BreakerConfig,
    BreakerState,
    CircuitBreaker,
    Permit,
    is_upstream_fault,
)

FAIL = UpstreamError("boom", upstream_status=500)


class Transitions:
    """A BreakerListener that keeps what it hears."""

    def __init__(self) -> None:
        self.changes: list[tuple[str, BreakerState, BreakerState, float]] = []
        self.cooldowns: list[tuple[str, float, float]] = []

    def state_changed(self, name: str, old: BreakerState, new: BreakerState, now: float) -> None:
        self.changes.append((name, old, new, now))

    def cooldown_started(self, name: str, seconds: float, now: float) -> None:
        self.cooldowns.append((name, seconds, now))


def permit(breaker: CircuitBreaker, now: float) -> Permit:
    p = breaker.allow(now)
    assert p is not None
    return p


def trip(breaker: CircuitBreaker, now: float) -> None:
    """Open the breaker with consecutive failures."""
    for _ in range(breaker.config.consecutive_failures):
        breaker.record_failure(permit(breaker, now), now, FAIL)
    assert breaker.state(now) == "open"


def test_full_cycle_closed_open_half_open_closed() -> None:
    """The breaker trips, waits, probes exactly K calls and closes after K successes."""
    listener = Transitions()
    cfg = BreakerConfig(consecutive_failures=3, open_s=10.0, half_open_probes=2)
    b = CircuitBreaker("d1", cfg, listener=listener)
    trip(b, 0.0)
    assert b.allow(5.0) is None
    assert b.state(9.99) == "open"
    assert b.state(10.0) == "half_open"
    p1, p2 = permit(b, 10.0), permit(b, 10.0)
    assert b.allow(10.0) is None
    b.record_success(p1, 11.0)
    assert b.state(11.0) == "half_open"
    assert b.allow(11.0) is None
    b.record_success(p2, 12.0)
    assert b.state(12.0) == "closed"
    assert [(old, new) for _, old, new, _ in listener.changes] == [
        ("closed", "open"),
        ("open", "half_open"),
        ("half_open", "closed"),
    ]
    assert listener.changes[0][0] == "d1"


def test_half_open_admits_exactly_k_probes_under_concurrency() -> None:
    """However many callers ask at once, exactly K probe permits exist at any time."""
    cfg = BreakerConfig(consecutive_failures=1, open_s=1.0, half_open_probes=3)
    b = CircuitBreaker("d", cfg)
    trip(b, 0.0)
    granted = [b.allow(2.0) for _ in range(50)]
    probes = [p for p in granted if p is not None]
    assert len(probes) == 3
    assert all(p.probe for p in probes)
    # One success frees no slot: the successes plus those in flight stay at K.
    b.record_success(probes[0], 2.1)
    assert b.allow(2.1) is None
    b.record_success(probes[1], 2.2)
    assert b.allow(2.2) is None
    b.record_success(probes[2], 2.3)
    assert b.state(2.3) == "closed"


def test_any_probe_failure_reopens() -> None:
    """A failed probe reopens the breaker; the other probes' later results are ignored."""
    cfg = BreakerConfig(consecutive_failures=1, open_s=1.0, half_open_probes=2)
    b = CircuitBreaker("d", cfg)
    trip(b, 0.0)
    p1, p2 = permit(b, 1.0), permit(b, 1.0)
    b.record_failure(p1, 1.5, UpstreamTimeoutError("slow"))
    assert b.state(1.5) == "open"
    b.record_success(p2, 1.6)
    assert b.state(1.6) == "open"
    assert b.state(2.49) == "open"
    assert b.state(2.5) == "half_open"
    assert b.snapshot(2.5)["probes_in_flight"] == 0


def test_cancelled_probe_releases_its_slot() -> None:
    """record_ignored (a cancelled call) gives the probe slot back."""
    cfg = BreakerConfig(consecutive_failures=1, open_s=1.0, half_open_probes=1)
    b = CircuitBreaker("d", cfg)
    trip(b, 0.0)
    p = permit(b, 1.0)
    assert b.allow(1.0) is None
    b.record_ignored(p)
    again = permit(b, 1.0)
    b.record_success(again, 1.1)
    assert b.state(1.1) == "closed"


def test_returning_a_permit_twice_counts_once() -> None:
    """A doubly returned probe permit cannot complete the half-open phase alone."""
    cfg = BreakerConfig(consecutive_failures=1, open_s=1.0, half_open_probes=2)
    b = CircuitBreaker("d", cfg)
    trip(b, 0.0)
    p = permit(b, 1.0)
    b.record_success(p, 1.1)
    b.record_success(p, 1.2)
    b.record_ignored(p)
    assert b.state(1.2) == "half_open"
    snap = b.snapshot(1.2)
    assert (snap["probe_successes"], snap["probes_in_flight"]) == (1, 0)


def test_consecutive_failures_trip() -> None:
    """N failures in a row open the breaker even below min_calls."""
    b = CircuitBreaker("d", BreakerConfig(consecutive_failures=4, min_calls=100))
    for _ in range(3):
        b.record_failure(permit(b, 0.0), 0.0, UpstreamConnectionError("refused"))
    assert b.state(0.0) == "closed"
    b.record_failure(permit(b, 0.0), 0.0, UpstreamConnectionError("refused"))
    assert b.state(0.0) == "open"


def test_a_success_resets_the_consecutive_count() -> None:
    """Alternating failures and successes never reach the consecutive threshold."""
    b = CircuitBreaker("d", BreakerConfig(consecutive_failures=3, min_calls=1000))
    for i in range(20):
        b.record_failure(permit(b, i), float(i), FAIL)
        b.record_success(permit(b, i), float(i))
    assert b.state(20.0) == "closed"


def test_failure_rate_needs_min_calls() -> None:
    """A 50% failure rate trips only once the window holds min_calls calls."""
    cfg = BreakerConfig(failure_rate=0.5, min_calls=10, consecutive_failures=0)
    b = CircuitBreaker("d", cfg)
    for i in range(4):
        b.record_failure(permit(b, 1.0), 1.0, FAIL)
        assert b.state(1.0) == "closed", i
        b.record_success(permit(b, 1.0), 1.0)
    b.record_failure(permit(b, 1.0), 1.0, FAIL)
    assert b.state(1.0) == "closed"
    b.record_success(permit(b, 1.0), 1.0)
    assert b.snapshot(1.0)["calls"] == 10
    # The 11th call, a failure: 6 of 11 fail.
    b.record_failure(permit(b, 1.0), 1.0, FAIL)
    assert b.state(1.0) == "open"


def test_low_failure_rate_stays_closed() -> None:
    """A 20% failure rate under a 50% threshold never trips."""
    cfg = BreakerConfig(failure_rate=0.5, min_calls=10, consecutive_failures=0)
    b = CircuitBreaker("d", cfg)
    for i in range(200):
        p = permit(b, i * 0.01)
        if i % 5 == 0:
            b.record_failure(p, i * 0.01, FAIL)
        else:
            b.record_success(p, i * 0.01)
    assert b.state(2.0) == "closed"


def test_old_failures_leave_the_window() -> None:
    """Failures older than the window no longer count towards the rate."""
    cfg = BreakerConfig(failure_rate=0.5, min_calls=4, consecutive_failures=0, window_s=10.0)
    b = CircuitBreaker("d", cfg)
    for _ in range(3):
        b.record_failure(permit(b, 0.0), 0.0, FAIL)
    b.record_success(permit(b, 20.0), 20.0)
    assert b.snapshot(20.0)["calls"] == 1
    assert b.state(20.0) == "closed"


@pytest.mark.parametrize(
    "error",
    [
        BadRequestError("bad json"),
        UpstreamClientError("rejected", upstream_status=400),
        ContextWindowExceededError("too long", upstream_status=400),
    ],
)
def test_client_errors_are_not_failures(error: Exception) -> None:
    """Client-side errors never trip the breaker, whatever their number."""
    b = CircuitBreaker("d", BreakerConfig(consecutive_failures=2, min_calls=2))
    for _ in range(10):
        b.record_failure(permit(b, 0.0), 0.0, error)  # type: ignore[arg-type]
    assert b.state(0.0) == "closed"
    assert b.snapshot(0.0)["calls"] == 0


def test_rate_limit_cools_down_for_retry_after_without_counting() -> None:
    """A 429 makes the deployment unavailable for its retry-after but is not a failure."""
    listener = Transitions()
    b = CircuitBreaker("d", BreakerConfig(consecutive_failures=1), listener=listener)
    b.record_failure(permit(b, 0.0), 0.0, UpstreamRateLimitedError("429", retry_after=7.0))
    assert b.state(0.0) == "closed"
    assert not b.available(6.9)
    assert b.allow(6.9) is None
    assert b.available_in(2.0) == 5.0
    assert b.available(7.0)
    assert listener.cooldowns == [("d", 7.0, 0.0)]
    assert listener.changes == []


def test_rate_limit_without_retry_after_uses_the_default_cooldown() -> None:
    """A bare 429 cools down for rate_limit_cooldown_s."""
    b = CircuitBreaker("d", BreakerConfig(rate_limit_cooldown_s=3.0))
    b.record_failure(permit(b, 0.0), 0.0, UpstreamRateLimitedError("429"))
    assert not b.available(2.9)
    assert b.available(3.0)


def test_cooldown_is_capped() -> None:
    """An absurd retry-after cools down for max_cooldown_s at most."""
    b = CircuitBreaker("d", BreakerConfig(max_cooldown_s=60.0))
    b.record_failure(permit(b, 0.0), 0.0, UpstreamRateLimitedError("429", retry_after=86400.0))
    assert b.available(60.0)


def test_rate_limit_may_count_as_failure() -> None:
    """With rate_limit_is_failure, 429s also trip the breaker."""
    cfg = BreakerConfig(consecutive_failures=2, rate_limit_is_failure=True)
    b = CircuitBreaker("d", cfg)
    b.record_failure(permit(b, 0.0), 0.0, UpstreamRateLimitedError("429", retry_after=1.0))
    b.record_failure(permit(b, 2.0), 2.0, UpstreamRateLimitedError("429", retry_after=1.0))
    assert b.state(2.0) == "open"


def test_overload_with_retry_after_cools_down_and_counts() -> None:
    """A 529 carrying retry-after is both a failure and a cool-down."""
    b = CircuitBreaker("d", BreakerConfig(consecutive_failures=5))
    b.record_failure(permit(b, 0.0), 0.0, UpstreamOverloadedError("529", retry_after=2.0))
    assert not b.available(1.0)
    assert b.snapshot(3.0)["failures"] == 1


def test_stale_permits_from_before_a_trip_are_ignored() -> None:
    """Results of calls admitted while closed do not count once the breaker moved on."""
    cfg = BreakerConfig(consecutive_failures=2, open_s=1.0, half_open_probes=1)
    b = CircuitBreaker("d", cfg)
    old = permit(b, 0.0)
    trip(b, 0.0)
    probe = permit(b, 1.0)
    b.record_failure(old, 1.0, FAIL)
    assert b.state(1.0) == "half_open"
    b.record_success(probe, 1.1)
    assert b.state(1.1) == "closed"


def test_snapshot_is_json_ready() -> None:
    """snapshot reports the state, counts and remaining times."""
    b = CircuitBreaker("d", BreakerConfig(consecutive_failures=1, open_s=30.0))
    trip(b, 0.0)
    snap = b.snapshot(10.0)
    assert snap["name"] == "d"
    assert snap["state"] == "open"
    assert snap["available_in_s"] == 20.0


def test_invalid_config_is_rejected() -> None:
    """Nonsense thresholds are refused at construction."""
    with pytest.raises(ValueError):
        BreakerConfig(failure_rate=0.0)
    with pytest.raises(ValueError):
        BreakerConfig(half_open_probes=0)


def test_gateway_errors_are_not_upstream_failures() -> None:
    """A bug inside the gateway never trips a deployment's breaker."""
    b = CircuitBreaker("d", BreakerConfig(consecutive_failures=1))
    b.record_failure(permit(b, 0.0), 0.0, InternalError("bug"))
    assert b.state(0.0) == "closed"
    assert not is_upstream_fault(InternalError("bug"))
    assert is_upstream_fault(UpstreamTimeoutError("slow"))
