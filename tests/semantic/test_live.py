"""LiveEstimator: intervals, tightening on evidence, per-partition learning."""

from __future__ import annotations

import pytest

from lockgate.cache.semantic.live import LiveEstimator, proportion_interval, wilson_interval
from lockgate.cache.semantic.verifier import load_verifier

BUDGET = 0.01


def test_intervals_match_known_values() -> None:
    """Wilson 1/10 is about [0.018, 0.404]; Clopper-Pearson 0/10 tops out at 0.308."""
    low, high = wilson_interval(1, 10)
    assert low == pytest.approx(0.0179, abs=1e-3) and high == pytest.approx(0.4042, abs=1e-3)
    assert proportion_interval(0, 10, method="exact")[1] == pytest.approx(0.3085, abs=1e-3)
    assert proportion_interval(0, 0) == (0.0, 1.0)


def test_no_tightening_without_a_wrong_hit() -> None:
    """A small clean sample has a wide interval, but no evidence: the bar stays."""
    est = LiveEstimator(load_verifier())
    for _ in range(20):
        assert not est.record("a", "p", BUDGET, wrong=False)
    e = est.estimate("a")
    assert e is not None and e.rate == 0.0 and e.high > BUDGET and e.tightenings == 0
    assert est.accept_threshold("a", "p", BUDGET) is None


def test_a_wrong_hit_halves_the_budget_of_alias_and_partition() -> None:
    """One wrong hit with the upper bound above budget: the next stricter operating point."""
    v = load_verifier()
    est = LiveEstimator(v)
    est.record("a", "p", BUDGET, wrong=False)
    assert est.record("a", "p", BUDGET, wrong=True)
    e = est.estimate("a")
    assert e is not None and (e.verified, e.wrong, e.rate) == (2, 1, 0.5)
    assert e.effective_budget == BUDGET / 2 and e.tightenings == 1
    assert est.accept_threshold("a", "p", BUDGET) == v.operating_point(BUDGET / 2)
    # another alias is untouched
    assert est.accept_threshold("b", "p", BUDGET) is None


def test_partition_learns_alone_when_the_alias_is_fine() -> None:
    """Many right hits elsewhere keep the alias's bound low; the bad partition tightens alone."""
    v = load_verifier()
    est = LiveEstimator(v)
    for i in range(3000):
        est.record("a", f"good{i % 50}", 0.05, wrong=False)
    assert est.record("a", "bad", 0.05, wrong=True)
    e = est.estimate("a")
    assert e is not None and e.high < 0.05 and e.tightenings == 0
    assert est.accept_threshold("a", "bad", 0.05) == v.operating_point(0.025)
    assert est.accept_threshold("a", "good1", 0.05) is None


def test_past_the_strictest_point_nothing_is_served() -> None:
    """Wrong hits keep coming: after three halvings of 1% the partition serves no hits."""
    v = load_verifier()
    est = LiveEstimator(v)
    for _ in range(3):
        assert est.record("a", "p", BUDGET, wrong=True)
    point = est.accept_threshold("a", "p", BUDGET)
    assert point == v.closed() and point.accept == point.accept_reworded == float("inf")


def test_partitions_are_bounded() -> None:
    est = LiveEstimator(load_verifier(), max_partitions=3)
    for i in range(10):
        est.record("a", f"p{i}", BUDGET, wrong=True)
    assert len(est._partitions) == 3


def test_errors_are_counted_apart() -> None:
    est = LiveEstimator(None)
    est.record_error("a", BUDGET)
    assert est.errors("a") == 1 and est.errors("b") == 0
    assert est.accept_threshold("a", "p", BUDGET) is None
    assert est.aliases() == ["a"]
