"""A deployment's per-minute quota and the rate-limited state the balancer reports."""

from __future__ import annotations

import random

from lockgate.errors import UpstreamOverloadedError, UpstreamRateLimitedError
from lockgate.resilience import Balancer, Candidate, CircuitBreaker
from lockgate.resilience.quota import MinuteQuota


def test_rpm_frees_a_slot_when_the_oldest_request_leaves_the_window():
    """Two requests a minute: the third waits until 60 s after the first."""
    quota = MinuteQuota(rpm=2)
    quota.record_request(0.0)
    quota.record_request(10.0)
    assert not quota.available(20.0)
    assert quota.available_in(20.0) == 40.0
    assert quota.available(60.0)


def test_tpm_counts_tokens_and_unlimited_is_always_available():
    """Tokens add up against tpm; a quota without limits never refuses."""
    quota = MinuteQuota(tpm=100)
    quota.record_tokens(0.0, 60)
    assert quota.available(1.0)
    quota.record_tokens(1.0, 50)
    assert quota.available_in(2.0) == 58.0
    free = MinuteQuota()
    free.record_request(0.0)
    assert free.available(0.0)


def test_balancer_skips_a_deployment_at_its_quota():
    """A candidate at its rpm is not chosen while another is free."""
    a = Candidate("a", quota=MinuteQuota(rpm=1))
    b = Candidate("b")
    bal = Balancer(rng=random.Random(1))
    lease = bal.acquire([a], now=0.0)
    assert lease is not None
    assert bal.acquire([a], now=1.0) is None
    assert {bal.choose([a, b], now=1.0).id for _ in range(10)} == {"b"}
    assert bal.rate_limited([a], 1.0) and bal.available_in([a], 1.0) == 59.0


def test_rate_limited_only_after_a_429_cooldown():
    """A 429 cooldown is rate limiting; an overload cooldown is not."""
    limited = CircuitBreaker("x")
    permit = limited.allow(0.0)
    assert permit is not None
    limited.record_failure(permit, 0.0, UpstreamRateLimitedError("slow down", retry_after=5))
    assert limited.rate_limited(1.0) and not limited.rate_limited(6.0)
    busy = CircuitBreaker("y")
    permit = busy.allow(0.0)
    assert permit is not None
    busy.record_failure(permit, 0.0, UpstreamOverloadedError("busy", retry_after=5))
    assert not busy.available(1.0) and not busy.rate_limited(1.0)
