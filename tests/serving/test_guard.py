"""The connection guard's bookkeeping: who is shed for a newcomer, and when one is refused."""

from __future__ import annotations

import logging

import pytest

from lockgate.serving.config import HttpLimits
from lockgate.serving.guard import ConnectionGuard, LogThrottle


class Conn:
    def __init__(self) -> None:
        self.evicted = False

    def evict(self) -> None:
        self.evicted = True


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def make(cap: int) -> tuple[ConnectionGuard, list[str]]:
    reasons: list[str] = []
    return ConnectionGuard(HttpLimits(max_connections=cap), Clock(), reasons.append), reasons


def test_admits_up_to_the_cap() -> None:
    """Below the cap every connection is admitted and counted."""
    guard, reasons = make(3)
    assert all(guard.admit(Conn()) for _ in range(3))
    assert guard.open == 3 and reasons == []


def test_never_served_connection_is_shed_before_a_served_idle_one() -> None:
    """At the cap the oldest connection that never completed a request goes first."""
    guard, reasons = make(2)
    served, silent = Conn(), Conn()
    guard.admit(served)
    guard.busy(served)
    guard.idle_again(served)
    guard.admit(silent)
    newcomer = Conn()
    assert guard.admit(newcomer)
    assert silent.evicted and not served.evicted
    assert guard.open == 2 and reasons == ["evicted_idle"]


def test_served_idle_connection_is_shed_when_no_fresh_one_is_left() -> None:
    """With only keep-alive idle connections left, the oldest of them is shed."""
    guard, _ = make(1)
    served = Conn()
    guard.admit(served)
    guard.busy(served)
    guard.idle_again(served)
    assert guard.admit(Conn()) and served.evicted


def test_refuses_when_every_connection_has_a_request_in_flight() -> None:
    """Busy connections are never shed: the newcomer is refused instead."""
    guard, reasons = make(2)
    busy = [Conn(), Conn()]
    for c in busy:
        guard.admit(c)
        guard.busy(c)
    assert guard.admit(Conn()) is False
    assert not any(c.evicted for c in busy)
    assert reasons == ["connection_limit"] and guard.open == 2


def test_closed_frees_the_slot_and_is_idempotent() -> None:
    """A closed connection frees its slot once, however often it is reported."""
    guard, _ = make(1)
    c = Conn()
    guard.admit(c)
    guard.busy(c)
    guard.closed(c)
    guard.closed(c)
    guard.idle_again(c)  # a late callback after close must not resurrect it
    assert guard.open == 0 and guard.idle == 0
    assert guard.admit(Conn())


def test_refusals_are_logged_at_most_once_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    """A flood of refusals writes one line per 10 s per reason, with the count held back."""
    clock = Clock()
    guard = ConnectionGuard(HttpLimits(max_connections=1), clock)
    with caplog.at_level(logging.WARNING, logger="lockgate.server"):
        for _ in range(50):
            guard.rejected("connection_limit")
        clock.now = 10.0
        guard.rejected("connection_limit")
    lines = [r.getMessage() for r in caplog.records if r.name == "lockgate.server"]
    assert len(lines) == 2
    assert "connection_limit" in lines[0] and "49 more since last line" in lines[1]


def test_log_throttle_counts_what_it_holds_back() -> None:
    """The throttle lets the first line through and reports the suppressed count later."""
    clock = Clock()
    throttle = LogThrottle(1.0, clock)
    assert throttle.ready() == 0
    assert throttle.ready() is None and throttle.ready() is None
    clock.now = 1.0
    assert throttle.ready() == 2
