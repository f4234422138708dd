"""Deployment choice: strategies' distributions, exclusions and leases."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from lockgate.errors import UpstreamClientError, UpstreamError, UpstreamRateLimitedError
from lockgate.resilience import Balancer, BreakerConfig, Candidate, CircuitBreaker, Strategy


def trip(breaker: CircuitBreaker, now: float) -> None:
    for _ in range(breaker.config.consecutive_failures):
        permit = breaker.allow(now)
        assert permit is not None
        breaker.record_failure(permit, now, UpstreamError("boom"))
    assert breaker.state(now) == "open"


def test_weighted_random_follows_weights() -> None:
    """10k seeded picks split close to the configured 1:3:6 weights."""
    cands = [Candidate("a", 1.0), Candidate("b", 3.0), Candidate("c", 6.0)]
    bal = Balancer("weighted_random", rng=random.Random(42))
    counts = Counter(bal.choose(cands, now=0.0).id for _ in range(10_000))  # type: ignore[union-attr]
    assert abs(counts["a"] / 10_000 - 0.1) < 0.015
    assert abs(counts["b"] / 10_000 - 0.3) < 0.015
    assert abs(counts["c"] / 10_000 - 0.6) < 0.015


def test_weighted_random_never_picks_zero_weight() -> None:
    """A zero weight takes no traffic while another deployment has weight."""
    cands = [Candidate("a", 0.0), Candidate("b", 1.0)]
    bal = Balancer("weighted_random", rng=random.Random(1))
    assert {bal.choose(cands, now=0.0).id for _ in range(1000)} == {"b"}  # type: ignore[union-attr]


def test_least_inflight_picks_the_idlest_and_breaks_ties_randomly() -> None:
    """The deployment with fewest calls in flight wins; equal ones share picks."""
    cands = [Candidate("a"), Candidate("b"), Candidate("c")]
    bal = Balancer("least_inflight", rng=random.Random(3))
    handles = [bal.start("a", 0.0), bal.start("a", 0.0), bal.start("b", 0.0)]
    assert {bal.choose(cands, now=0.0).id for _ in range(100)} == {"c"}  # type: ignore[union-attr]
    bal.start("c", 0.0)
    counts = Counter(bal.choose(cands, now=0.0).id for _ in range(2000))  # type: ignore[union-attr]
    assert set(counts) == {"b", "c"}
    assert abs(counts["b"] - counts["c"]) < 200
    for h in handles:
        h.finish(1.0)
    assert bal.inflight("a") == 0


def test_least_inflight_spreads_concurrent_calls_evenly() -> None:
    """Starting calls as chosen keeps inflight counts within one of each other."""
    cands = [Candidate("a"), Candidate("b"), Candidate("c")]
    bal = Balancer("least_inflight", rng=random.Random(4))
    for _ in range(30):
        chosen = bal.choose(cands, now=0.0)
        assert chosen is not None
        bal.start(chosen.id, 0.0)
    assert [bal.inflight(x) for x in "abc"] == [10, 10, 10]


def simulate(
    bal: Balancer, cands: list[Candidate], latency: dict[str, float], now: float, requests: int
) -> tuple[Counter[str], float]:
    """Serve requests one after another on a fake clock; returns picks and the end time."""
    picks: Counter[str] = Counter()
    for _ in range(requests):
        chosen = bal.choose(cands, now=now)
        assert chosen is not None
        picks[chosen.id] += 1
        handle = bal.start(chosen.id, now)
        now += latency[chosen.id]
        handle.finish(now)
        now += 0.05
    return picks, now


def test_latency_prefers_the_fast_deployment_and_recovers() -> None:
    """Peak-EWMA sends most traffic to the fast deployment, and follows a change of speed."""
    cands = [Candidate("fast"), Candidate("slow")]
    bal = Balancer("latency", rng=random.Random(5), decay_s=10.0)
    picks, now = simulate(bal, cands, {"fast": 0.1, "slow": 1.0}, 0.0, 2000)
    assert picks["fast"] > 0.95 * 2000
    assert picks["slow"] > 0, "the slow deployment is still probed now and then"
    # Now "slow" speeds up and "fast" slows down: traffic must move over.
    picks, now = simulate(bal, cands, {"fast": 1.0, "slow": 0.05}, now, 600)
    late, _ = simulate(bal, cands, {"fast": 1.0, "slow": 0.05}, now, 1000)
    assert late["slow"] > 0.9 * 1000


def test_latency_cost_counts_inflight_calls() -> None:
    """A fast deployment loaded with calls loses to an idle slower one."""
    cands = [Candidate("fast"), Candidate("slow")]
    bal = Balancer("latency", rng=random.Random(6), decay_s=1000.0)
    bal.start("fast", 0.0).finish(0.1)
    bal.start("slow", 0.0).finish(1.0)
    assert bal.choose(cands, now=1.0).id == "fast"  # type: ignore[union-attr]
    for _ in range(20):
        bal.start("fast", 1.0)
    assert bal.cost("fast", 1.0) > bal.cost("slow", 1.0)
    assert bal.choose(cands, now=1.0).id == "slow"  # type: ignore[union-attr]


def test_failed_calls_are_not_rewarded_for_failing_fast() -> None:
    """A quick failure counts as a slow sample, so a failing deployment looks worse."""
    bal = Balancer("latency", rng=random.Random(7), decay_s=1000.0)
    bal.start("a", 0.0).finish(0.5)
    before = bal.cost("a", 1.0)
    bal.start("a", 1.0).finish(1.01, ok=False)
    assert bal.cost("a", 1.01) > before


@pytest.mark.parametrize("strategy", ["weighted_random", "least_inflight", "latency"])
def test_tried_deployments_are_avoided_while_others_remain(strategy: Strategy) -> None:
    """choose never returns an excluded deployment while an untried one is available."""
    cands = [Candidate("a"), Candidate("b"), Candidate("c")]
    bal = Balancer(strategy, rng=random.Random(8))
    got = {bal.choose(cands, exclude={"a", "b"}, now=0.0).id for _ in range(200)}  # type: ignore[union-attr]
    assert got == {"c"}


def test_when_all_were_tried_a_tried_one_is_reused() -> None:
    """Exclusion is a preference: a single-deployment alias can still be retried."""
    cands = [Candidate("only")]
    bal = Balancer("weighted_random", rng=random.Random(9))
    assert bal.choose(cands, exclude={"only"}, now=0.0) == cands[0]


@pytest.mark.parametrize("strategy", ["weighted_random", "least_inflight", "latency"])
def test_open_breakers_are_skipped(strategy: Strategy) -> None:
    """A deployment whose breaker is open is never chosen, tried or not."""
    open_b = CircuitBreaker("a", BreakerConfig(consecutive_failures=1, open_s=60.0))
    trip(open_b, 0.0)
    cands = [Candidate("a", 100.0, open_b), Candidate("b", 1.0, CircuitBreaker("b"))]
    bal = Balancer(strategy, rng=random.Random(10))
    assert {bal.choose(cands, exclude={"b"}, now=1.0).id for _ in range(200)} == {"b"}  # type: ignore[union-attr]


@pytest.mark.parametrize("strategy", ["weighted_random", "least_inflight", "latency"])
def test_a_lone_deployment_is_chosen_while_it_takes_calls(strategy: Strategy) -> None:
    """One deployment (no pool to build): chosen, tried or not, until its breaker opens;
    then none, and again once the breaker lets a probe through."""
    breaker = CircuitBreaker("only", BreakerConfig(consecutive_failures=1, open_s=5.0))
    cands = [Candidate("only", 0.0, breaker)]
    bal = Balancer(strategy, rng=random.Random(11))
    assert bal.choose(cands, now=0.0) == cands[0]
    assert bal.choose(cands, exclude={"only"}, now=0.0) == cands[0]
    trip(breaker, 0.0)
    assert bal.choose(cands, now=1.0) is None
    assert bal.acquire(cands, now=1.0) is None
    lease = bal.acquire(cands, now=6.0)  # half-open: one probe
    assert lease is not None and lease.deployment == "only"


def test_cooling_down_deployments_are_skipped_until_the_cooldown_ends() -> None:
    """A 429 cool-down removes a deployment from the choice for its retry-after."""
    a, b = CircuitBreaker("a"), CircuitBreaker("b")
    cands = [Candidate("a", 1.0, a), Candidate("b", 1.0, b)]
    permit = a.allow(0.0)
    assert permit is not None
    a.record_failure(permit, 0.0, UpstreamRateLimitedError("429", retry_after=5.0))
    bal = Balancer("weighted_random", rng=random.Random(11))
    assert {bal.choose(cands, now=4.0).id for _ in range(200)} == {"b"}  # type: ignore[union-attr]
    assert {bal.choose(cands, now=5.0).id for _ in range(200)} == {"a", "b"}  # type: ignore[union-attr]


def test_nothing_available_gives_none_and_a_wait() -> None:
    """With every breaker open, choose and acquire return None and available_in says how long."""
    a = CircuitBreaker("a", BreakerConfig(consecutive_failures=1, open_s=30.0))
    b = CircuitBreaker("b", BreakerConfig(consecutive_failures=1, open_s=10.0))
    trip(a, 0.0)
    trip(b, 0.0)
    cands = [Candidate("a", 1.0, a), Candidate("b", 1.0, b)]
    bal = Balancer("least_inflight", rng=random.Random(12))
    assert bal.choose(cands, now=1.0) is None
    assert bal.acquire(cands, now=1.0) is None
    assert bal.available_in(cands, 1.0) == 9.0
    assert not bal.has_alternative(cands, exclude=(), now=1.0)


def test_has_alternative_ignores_tried_and_unavailable() -> None:
    """has_alternative is true only for an available deployment outside exclude."""
    a, b = CircuitBreaker("a"), CircuitBreaker("b", BreakerConfig(consecutive_failures=1))
    cands = [Candidate("a", 1.0, a), Candidate("b", 1.0, b)]
    bal = Balancer(rng=random.Random(13))
    assert bal.has_alternative(cands, exclude={"a"}, now=0.0)
    trip(b, 0.0)
    assert not bal.has_alternative(cands, exclude={"a"}, now=0.0)


def test_lease_reports_to_breaker_and_inflight_once() -> None:
    """A lease counts in flight, feeds the breaker, and ends only once."""
    breaker = CircuitBreaker("a", BreakerConfig(consecutive_failures=2))
    cands = [Candidate("a", 1.0, breaker)]
    bal = Balancer("least_inflight", rng=random.Random(14))
    lease = bal.acquire(cands, now=0.0)
    assert lease is not None
    assert lease.deployment == "a"
    assert bal.inflight("a") == 1
    lease.failed(0.5, UpstreamError("boom"))
    lease.failed(0.6, UpstreamError("boom"))
    lease.succeeded(0.7)
    assert bal.inflight("a") == 0
    assert breaker.snapshot(1.0)["failures"] == 1


def test_released_lease_frees_a_half_open_probe() -> None:
    """A cancelled call's lease gives its probe slot back to the breaker."""
    cfg = BreakerConfig(consecutive_failures=1, open_s=1.0, half_open_probes=1)
    breaker = CircuitBreaker("a", cfg)
    trip(breaker, 0.0)
    cands = [Candidate("a", 1.0, breaker)]
    bal = Balancer(rng=random.Random(15))
    lease = bal.acquire(cands, now=2.0)
    assert lease is not None
    assert bal.acquire(cands, now=2.0) is None
    lease.release(2.5)
    second = bal.acquire(cands, now=2.5)
    assert second is not None
    second.first_byte(2.6)
    second.succeeded(3.0)
    assert breaker.state(3.0) == "closed"
    assert bal.snapshot(3.0)["a"]["inflight"] == 0


def test_rejected_requests_do_not_make_a_deployment_look_slow() -> None:
    """A lease failed by a client-side rejection records its real latency, no penalty."""
    bal = Balancer("latency", rng=random.Random(16), decay_s=1000.0)
    cands = [Candidate("a")]
    first = bal.acquire(cands, now=0.0)
    assert first is not None
    first.succeeded(0.5)
    lease = bal.acquire(cands, now=1.0)
    assert lease is not None
    lease.failed(1.01, UpstreamClientError("bad request", upstream_status=400))
    assert bal.cost("a", 1.01) <= 0.5
