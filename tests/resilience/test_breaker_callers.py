"""Failures attributed to callers: one caller cannot open a deployment's breaker for all."""

from __future__ import annotations

import random

import pytest

from lockgate.errors import UpstreamError, UpstreamRateLimitedError
from lockgate.resilience import Balancer, BreakerConfig, BreakerState, Candidate, CircuitBreaker
from lockgate.resilience.breaker import Permit

FAIL = UpstreamError("boom", upstream_status=500)
_SMALL = {"min_calls": 6, "failure_rate": 0.5, "window_s": 10.0, "half_open_probes": 2}
CFG = BreakerConfig(consecutive_failures=5, min_calls=20, failure_rate=0.5, open_s=30.0)


class Heard:
    """A BreakerListener and CallerListener that keeps what it hears."""

    def __init__(self) -> None:
        self.changes: list[tuple[str, BreakerState]] = []
        self.caller_changes: list[tuple[str, str, BreakerState]] = []
        self.sizes: list[int] = []

    def state_changed(self, name: str, old: BreakerState, new: BreakerState, now: float) -> None:
        self.changes.append((name, new))

    def cooldown_started(self, name: str, seconds: float, now: float) -> None:
        pass

    def caller_state_changed(
        self, name: str, caller: str, old: BreakerState, new: BreakerState, now: float
    ) -> None:
        self.caller_changes.append((name, caller, new))

    def callers_tracked(self, name: str, count: int) -> None:
        self.sizes.append(count)


def breaker(cfg: BreakerConfig = CFG) -> tuple[CircuitBreaker, Heard]:
    heard = Heard()
    return CircuitBreaker("dep", cfg, listener=heard, caller_listener=heard), heard


def call(b: CircuitBreaker, caller: str, ok: bool, now: float) -> bool:
    """One call by ``caller``; whether it was admitted."""
    permit = b.allow(now, caller)
    if permit is None:
        return False
    if ok:
        b.record_success(permit, now)
    else:
        b.record_failure(permit, now, FAIL)
    return True


@pytest.mark.parametrize("seed", range(8))
def test_one_caller_behaves_exactly_like_the_plain_breaker(seed):
    """A single caller (a single-tenant install) sees the same admissions and states as a
    breaker without attribution, step for step, over a random run of outcomes and clocks."""
    rng = random.Random(seed)
    fair = CircuitBreaker("dep", BreakerConfig(consecutive_failures=3, open_s=5.0, **_SMALL))
    off = BreakerConfig(consecutive_failures=3, open_s=5.0, per_caller=False, **_SMALL)
    plain = CircuitBreaker("dep", off)
    now = 0.0
    held: list[tuple[Permit, Permit, bool]] = []
    for _ in range(600):
        now += rng.choice((0.01, 0.3, 1.0, 2.5))
        assert plain.state(now) == fair.state(now)
        assert plain.available(now) == fair.available(now, "only")
        a, b = plain.allow(now), fair.allow(now, "only")
        assert (a is None) == (b is None)
        if a is not None and b is not None:
            held.append((a, b, rng.random() < 0.55))
        # finish some calls in random order (concurrency)
        while held and rng.random() < 0.6:
            pa, pb, ok = held.pop(rng.randrange(len(held)))
            if ok:
                plain.record_success(pa, now)
                fair.record_success(pb, now)
            else:
                plain.record_failure(pa, now, FAIL)
                fair.record_failure(pb, now, FAIL)
        assert plain.state(now) == fair.state(now)


def test_hostile_caller_is_cut_off_alone_while_others_keep_the_deployment():
    b, heard = breaker()
    now = 0.0
    for _ in range(40):
        now += 0.1
        call(b, "good", True, now)
        call(b, "bad", False, now)
    assert b.state(now) == "closed"
    assert b.allow(now, "bad") is None
    assert not b.available(now, "bad") and b.available(now, "good")
    assert 0.0 < b.available_in(now, "bad") <= 30.0 and b.available_in(now, "good") == 0.0
    assert call(b, "good", True, now)
    assert call(b, "someone-new", True, now)
    assert ("dep", "bad", "open") in heard.caller_changes
    assert not any(new == "open" for _, new in heard.changes)
    snap = b.snapshot(now)
    assert snap["state"] == "closed"
    assert snap["callers"]["callers"][0]["caller"] == "bad"
    assert snap["callers"]["callers"][0]["state"] == "open"


def test_a_burst_in_flight_does_not_open_it_for_everyone():
    """100 concurrent calls from one caller fail after its own breaker opened: the rate
    without that caller is the others' (all fine), so the deployment stays closed."""
    b, _ = breaker()
    now = 1.0
    burst = [b.allow(now, "bad") for _ in range(100)]
    goods = [b.allow(now, "good") for _ in range(20)]
    for p in goods:
        assert p is not None
        b.record_success(p, now)
    for p in burst:
        assert p is not None
        b.record_failure(p, now, FAIL)
    assert b.state(now) == "closed"
    assert b.allow(now, "bad") is None and b.allow(now, "good") is not None


def test_truly_down_opens_for_everyone_with_two_callers():
    b, heard = breaker()
    now = 0.0
    admitted = 0
    for _ in range(10):
        now += 0.1
        admitted += call(b, "a", False, now)
        admitted += call(b, "b", False, now)
        if b.state(now) == "open":
            break
    assert b.state(now) == "open"
    assert b.allow(now, "third") is None  # open for every caller, not only the two
    assert ("dep", "open") in heard.changes
    assert admitted == 10  # five failures beyond the worst caller's five


def test_truly_down_many_quiet_callers_open_it_fast():
    """Ten callers, one request each, all failing: open after six failures."""
    b, _ = breaker()
    for i in range(10):
        call(b, f"caller-{i}", False, float(i))
        if b.state(float(i)) == "open":
            break
    assert b.state(float(i)) == "open" and i == 5


def test_rate_rule_without_the_worst_caller_still_opens_a_failing_deployment():
    """No run of failures (successes between), but most others' calls fail: open."""
    cfg = BreakerConfig(consecutive_failures=0, min_calls=20, failure_rate=0.5)
    b, _ = breaker(cfg)
    now = 0.0
    for i in range(60):
        now += 0.05
        call(b, "bad", False, now)
        call(b, f"other-{i % 4}", i % 3 != 0, now)  # others fail 1 in 3: stays closed
    assert b.state(now) == "closed"
    for i in range(60):
        now += 0.05
        call(b, f"other-{i % 4}", i % 4 == 0, now)  # now others fail 3 in 4
        if b.state(now) == "open":
            break
    assert b.state(now) == "open"


def test_alone_opens_it_but_a_bystander_gets_through_and_closes_it():
    """At a quiet hour one caller alone opens the breaker (the plain rule); another caller
    arriving is let through: its success closes it, the first caller stays cut off."""
    b, heard = breaker()
    for i in range(5):
        call(b, "bad", False, float(i))
    assert b.state(5.0) == "open" and b.snapshot(5.0)["opened_by"] == "bad"
    assert b.allow(5.0, "bad") is None
    assert b.available(5.0, "good")
    assert call(b, "good", True, 5.0)
    assert b.state(5.0) == "closed"
    assert b.allow(5.1, "bad") is None and call(b, "good", True, 5.1)
    assert heard.changes[-2:] == [("dep", "open"), ("dep", "closed")]


def test_a_bystander_that_fails_too_keeps_it_open_for_all():
    b, _ = breaker()
    for i in range(5):
        call(b, "bad", False, float(i))
    assert call(b, "other", False, 5.0)
    assert b.state(5.0) == "open" and b.snapshot(5.0)["opened_by"] is None
    assert b.allow(5.0, "third") is None


def test_cut_off_callers_failed_probe_does_not_reopen_for_others():
    cfg = BreakerConfig(consecutive_failures=5, open_s=10.0, half_open_probes=2)
    b, _ = breaker(cfg)
    now = 0.0
    for _ in range(5):  # truly down for two callers
        now += 0.1
        call(b, "a", False, now)
        call(b, "b", False, now)
    assert b.state(now) == "open"
    now += 10.5  # both the deployment's and a's own breaker are half-open now
    assert b.state(now) == "half_open"
    probe = b.allow(now, "a")
    assert probe is not None
    b.record_failure(probe, now, FAIL)  # a's own breaker reopens; a alone is cut off
    assert b.state(now) == "half_open"
    assert b.allow(now, "a") is None
    assert call(b, "c", True, now) and call(b, "c", True, now)
    assert b.state(now) == "closed"
    assert b.allow(now, "a") is None


def test_caller_entries_are_capped_and_forgotten_once_clean():
    cfg = BreakerConfig(consecutive_failures=5, max_callers=3)
    b, heard = breaker(cfg)
    for i in range(10):
        call(b, "good", True, float(i))
        call(b, f"rotating-{i}", False, float(i))
    assert b.snapshot(10.0)["callers"]["tracked"] == 3
    assert max(heard.sizes) == 3
    assert call(b, "rotating-9", True, 10.0)
    tracked = [c["caller"] for c in b.snapshot(10.0)["callers"]["callers"]]
    assert "rotating-9" in tracked  # its failure is still in the window
    # a caller whose failures left the window is dropped at its next success
    assert call(b, "rotating-9", True, 100.0)
    assert "rotating-9" not in [c["caller"] for c in b.snapshot(100.0)["callers"]["callers"]]
    assert heard.sizes[-1] == 2


def test_rate_limits_stay_the_deployments_not_the_callers():
    b, _ = breaker()
    p = b.allow(0.0, "a")
    assert p is not None
    b.record_failure(p, 0.0, UpstreamRateLimitedError("slow down", retry_after=2.0))
    assert b.allow(1.0, "b") is None and b.rate_limited(1.0)
    assert b.snapshot(1.0)["callers"]["tracked"] == 0


def test_per_caller_off_is_one_breaker_for_all():
    b, _ = breaker(BreakerConfig(consecutive_failures=5, per_caller=False))
    for i in range(5):
        call(b, "good", True, float(i))
        call(b, "bad", False, float(i))
    for i in range(5):
        call(b, "bad", False, 5.0 + i)
    assert b.state(10.0) == "open" and b.allow(10.0, "good") is None
    assert "callers" not in b.snapshot(10.0)


def test_balancer_skips_a_deployment_for_the_cut_off_caller_only():
    b1, _ = breaker()
    b2 = CircuitBreaker("dep2", CFG)
    cands = (Candidate("dep", breaker=b1), Candidate("dep2", breaker=b2))
    bal = Balancer(rng=random.Random(1))
    for i in range(5):
        call(b1, "good", True, float(i))
        call(b1, "bad", False, float(i))
    chosen = set()
    for _ in range(30):
        lease = bal.acquire(cands, now=5.0, caller="bad")
        assert lease is not None
        chosen.add(lease.deployment)
        lease.release(5.0)
    assert chosen == {"dep2"}
    assert bal.has_alternative(cands, exclude={"dep2"}, now=5.0, caller="good")
    assert not bal.has_alternative(cands, exclude={"dep2"}, now=5.0, caller="bad")
    only = cands[:1]
    assert bal.acquire(only, now=5.0, caller="bad") is None
    assert bal.caller_cut_off(only, 5.0, "bad")
    assert bal.available_in(only, 5.0, "bad") > 0.0
    assert bal.available_in(only, 5.0, "good") == 0.0
