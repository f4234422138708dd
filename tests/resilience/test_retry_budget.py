"""Retry budget: a share of requests plus a per-second reserve, over a rolling window."""

from __future__ import annotations

import pytest

from lockgate.resilience import RetryBudget


def spend_all(budget: RetryBudget, now: float, limit: int = 10_000) -> int:
    """Spend retries until refused; returns how many were granted."""
    granted = 0
    for _ in range(limit):
        if not budget.try_spend_retry(now):
            break
        granted += 1
    return granted


def test_reserve_alone_allows_min_per_second_times_window() -> None:
    """With no traffic only the reserve is available."""
    budget = RetryBudget(ratio=0.2, min_per_second=1.0, window_s=10.0)
    assert spend_all(budget, 100.0) == 10


def test_ratio_of_requests_is_added_to_the_reserve() -> None:
    """100 requests at 20% add 20 retries to a reserve of 10."""
    budget = RetryBudget(ratio=0.2, min_per_second=1.0, window_s=10.0)
    for _ in range(100):
        budget.record_request(100.0)
    assert spend_all(budget, 100.5) == 30


def test_exhausted_budget_refuses_and_takes_nothing() -> None:
    """Once spent, further retries are refused and the count does not grow."""
    budget = RetryBudget(ratio=0.0, min_per_second=0.5, window_s=4.0)
    assert spend_all(budget, 10.0) == 2
    assert budget.try_spend_retry(10.0) is False
    assert budget.snapshot(10.0)["retries"] == 2


def test_outage_is_not_amplified() -> None:
    """Under total failure retries stay near ratio * requests (+ reserve), not one per request."""
    budget = RetryBudget(ratio=0.2, min_per_second=0.0, window_s=10.0)
    granted = 0
    now = 0.0
    for _ in range(1000):
        now += 0.01
        budget.record_request(now)
        granted += budget.try_spend_retry(now)
    assert 190 <= granted <= 200


def test_budget_refills_as_the_window_rolls() -> None:
    """Retries spent leave the window after window_s and may be spent again."""
    budget = RetryBudget(ratio=0.0, min_per_second=1.0, window_s=10.0, buckets=10)
    assert spend_all(budget, 0.0) == 10
    assert spend_all(budget, 5.0) == 0
    assert spend_all(budget, 10.5) == 10


def test_requests_expire_from_the_window() -> None:
    """Old requests stop counting towards the ratio share."""
    budget = RetryBudget(ratio=1.0, min_per_second=0.0, window_s=2.0, buckets=4)
    for _ in range(5):
        budget.record_request(0.0)
    assert budget.allowed(0.1) == 5.0
    assert budget.allowed(3.0) == 0.0


def test_invalid_settings_are_rejected() -> None:
    """Negative ratios or empty windows are refused."""
    with pytest.raises(ValueError):
        RetryBudget(ratio=-0.1)
    with pytest.raises(ValueError):
        RetryBudget(window_s=0.0)
