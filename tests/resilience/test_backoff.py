"""Backoff bounds, growth and the retry-after cap."""

from __future__ import annotations

import random

import pytest

from lockgate.resilience import RetryPolicy, compute_backoff, retry_delay


@pytest.mark.parametrize("attempt", [1, 2, 3, 4, 5, 10, 100])
def test_full_jitter_stays_within_zero_and_ceiling(attempt: int) -> None:
    """Full jitter draws in [0, min(cap, base * 2**(attempt-1))]."""
    rng = random.Random(attempt)
    ceiling = min(8.0, 0.5 * 2 ** (attempt - 1))
    draws = [compute_backoff(attempt, base=0.5, cap=8.0, rng=rng) for _ in range(500)]
    assert all(0.0 <= d <= ceiling for d in draws)
    assert max(draws) > 0.9 * ceiling


@pytest.mark.parametrize("attempt", [1, 2, 3, 6])
def test_equal_jitter_stays_within_half_and_ceiling(attempt: int) -> None:
    """Equal jitter draws in [d/2, d]."""
    rng = random.Random(7)
    ceiling = min(8.0, 0.5 * 2 ** (attempt - 1))
    draws = [
        compute_backoff(attempt, base=0.5, cap=8.0, rng=rng, jitter="equal") for _ in range(500)
    ]
    assert all(ceiling / 2 <= d <= ceiling for d in draws)


def test_no_jitter_doubles_until_the_cap() -> None:
    """Without jitter the delay doubles each attempt and then stays at the cap."""
    rng = random.Random(0)
    got = [compute_backoff(n, base=0.5, cap=8.0, rng=rng, jitter="none") for n in range(1, 8)]
    assert got == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


def test_mean_backoff_grows_with_attempts() -> None:
    """Average full-jitter delay grows with the attempt number until the cap."""
    rng = random.Random(1)

    def mean(attempt: int) -> float:
        draws = [compute_backoff(attempt, base=0.5, cap=8.0, rng=rng) for _ in range(2000)]
        return sum(draws) / len(draws)

    means = [mean(n) for n in (1, 2, 3, 4)]
    assert means == sorted(means)
    assert means[3] > 3 * means[0]


def test_huge_attempt_does_not_overflow() -> None:
    """A very large attempt number is simply capped."""
    assert compute_backoff(10_000, base=1.0, cap=3.0, rng=random.Random(), jitter="none") == 3.0


def test_attempt_below_one_is_rejected() -> None:
    """Attempts count retries from one."""
    with pytest.raises(ValueError):
        compute_backoff(0, base=1.0, cap=2.0, rng=random.Random())


def test_retry_after_is_honoured_up_to_the_cap() -> None:
    """A retry-after within the cap is waited exactly; backoff is not added."""
    rng = random.Random(3)
    assert retry_delay(1, 12.5, base=0.5, cap=8.0, max_retry_after=60.0, rng=rng) == 12.5
    assert retry_delay(1, 60.0, base=0.5, cap=8.0, max_retry_after=60.0, rng=rng) == 60.0


def test_retry_after_above_the_cap_means_do_not_wait() -> None:
    """A retry-after beyond the cap yields None: fail over instead of waiting."""
    rng = random.Random(3)
    assert retry_delay(1, 61.0, base=0.5, cap=8.0, max_retry_after=60.0, rng=rng) is None


def test_without_retry_after_backoff_applies() -> None:
    """No retry-after: the jittered exponential backoff is used."""
    delay = retry_delay(3, None, base=0.5, cap=8.0, max_retry_after=60.0, rng=random.Random(4))
    assert delay is not None
    assert 0.0 <= delay <= 2.0


def test_policy_delay_and_switch_delay() -> None:
    """RetryPolicy waits for retry-after on the same deployment but not when switching."""
    policy = RetryPolicy(backoff_base_s=0.1, backoff_cap_s=1.0, max_retry_after_s=30.0)
    rng = random.Random(5)
    assert policy.delay(1, 20.0, rng) == 20.0
    assert policy.delay(1, 31.0, rng) is None
    assert 0.0 <= policy.switch_delay(1, rng) <= 0.1


def test_policy_rejects_nonsense() -> None:
    """A policy with zero attempts or negative delays is refused."""
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(backoff_base_s=-1.0)
