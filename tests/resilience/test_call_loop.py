"""The pieces wired together the way the gateway's call loop uses them (fake clock, no I/O)."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence

from lockgate.errors import GatewayError, UpstreamError
from lockgate.resilience import (
    Balancer,
    BreakerConfig,
    Candidate,
    CircuitBreaker,
    Deadline,
    Fallback,
    FallbackChains,
    GiveUp,
    Retry,
    RetryBudget,
    RetryPlan,
    RetryPolicy,
    classify_upstream_failure,
)

# A fake upstream: deployment id -> (status, latency); 200 means success.
Upstream = Callable[[str], tuple[int, float]]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0


def call(
    alias: str,
    aliases: Mapping[str, Sequence[Candidate]],
    upstream: Upstream,
    *,
    balancer: Balancer,
    clock: Clock,
    chains: FallbackChains,
    budget: RetryBudget,
) -> tuple[str, RetryPlan]:
    """The loop the gateway runs, with sleeping replaced by advancing the fake clock."""
    plan = RetryPlan(
        alias,
        policy=RetryPolicy(max_attempts=3),
        deadline=Deadline.after(clock.now, 120.0),
        rng=random.Random(0),
        now=clock.now,
        chains=chains,
        budget=budget,
    )
    for _ in range(50):
        cands = aliases[plan.alias]
        lease = balancer.acquire(cands, exclude=plan.tried, now=clock.now)
        if lease is None:
            decision = plan.on_unavailable(
                clock.now, available_in=balancer.available_in(cands, clock.now)
            )
        else:
            plan.begin_attempt(lease.deployment)
            status, latency = upstream(lease.deployment)
            clock.now += latency
            if status == 200:
                lease.succeeded(clock.now)
                return lease.deployment, plan
            error = classify_upstream_failure(status, {}, b"", "anthropic", now=0.0)
            lease.failed(clock.now, error)
            decision = plan.on_failure(
                error,
                clock.now,
                can_switch=balancer.has_alternative(cands, exclude=plan.tried, now=clock.now),
            )
        if isinstance(decision, Retry):
            clock.now += decision.delay
        elif isinstance(decision, GiveUp):
            raise decision.error
        else:
            assert isinstance(decision, Fallback)
    raise AssertionError("the loop must end within 50 steps")


def test_failover_breaker_and_fallback_alias() -> None:
    """A failing deployment is retried around, then tripped, then the alias falls back."""
    clock = Clock()
    cfg = BreakerConfig(consecutive_failures=3, open_s=30.0)
    breakers = {d: CircuitBreaker(d, cfg) for d in ("a1", "a2", "b1")}
    aliases = {
        "main": [Candidate("a1", 1.0, breakers["a1"]), Candidate("a2", 1.0, breakers["a2"])],
        "backup": [Candidate("b1", 1.0, breakers["b1"])],
    }
    down = {"a1"}

    def upstream(deployment: str) -> tuple[int, float]:
        return (529, 0.05) if deployment in down else (200, 0.2)

    balancer = Balancer("weighted_random", rng=random.Random(1))
    chains = FallbackChains(fallbacks={"main": ["backup"]})
    budget = RetryBudget()

    def run() -> tuple[str, RetryPlan]:
        return call(
            "main", aliases, upstream, balancer=balancer, clock=clock, chains=chains, budget=budget
        )

    served = [run()[0] for _ in range(40)]
    assert set(served) == {"a2"}
    assert breakers["a1"].state(clock.now) == "open"

    down.add("a2")
    deployment, plan = run()
    assert deployment == "b1"
    assert plan.visited == ["main", "backup"]

    down.add("b1")
    for _ in range(5):
        try:
            run()
        except GatewayError as err:
            assert isinstance(err, UpstreamError)
        else:
            raise AssertionError("every deployment is down")
    assert {b.state(clock.now) for b in breakers.values()} == {"open"}
