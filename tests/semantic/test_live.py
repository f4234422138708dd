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


def _clean_probes_needed(budget: float) -> int:
    """Fewest clean comparisons whose 95% Wilson upper bound is within ``budget``."""
    return next(n for n in range(1, 100_000) if wilson_interval(0, n)[1] <= budget)


def test_nothing_is_probed_until_something_is_tightened() -> None:
    est = LiveEstimator(load_verifier())
    assert est.probe_point("a", "p", BUDGET) is None
    assert not est.record_probe("a", "p", BUDGET, wrong=False)
    est.record("a", "p", BUDGET, wrong=False)
    assert est.probe_point("a", "p", BUDGET) is None
    e = est.estimate("a")
    assert e is not None and e.probed == 0 and e.loosenings == 0


def test_clean_probes_of_the_marginal_band_loosen_a_tightened_alias() -> None:
    """After one wrong hit the alias probes its old point; only enough clean
    comparisons (the Wilson bound within budget) give it back."""
    v = load_verifier()
    est = LiveEstimator(v)
    assert est.record("a", "p", BUDGET, wrong=True)
    assert est.accept_threshold("a", "p", BUDGET) == v.operating_point(BUDGET / 2)
    assert est.probe_point("a", "p", BUDGET) == v.operating_point(BUDGET)
    needed = _clean_probes_needed(BUDGET)
    assert 300 < needed < 500  # about 3.84 / budget
    for _ in range(needed - 1):
        assert not est.record_probe("a", "p", BUDGET, wrong=False)
    assert est.accept_threshold("a", "p", BUDGET) == v.operating_point(BUDGET / 2)
    assert est.record_probe("a", "p", BUDGET, wrong=False)
    assert est.accept_threshold("a", "p", BUDGET) is None  # back to the alias's own point
    assert est.probe_point("a", "p", BUDGET) is None
    e = est.estimate("a")
    assert e is not None and e.loosenings == 1 and e.effective_budget == BUDGET
    assert e.tightenings == 1 and e.probed == 0  # counts restart after a change


def test_a_wrong_probe_needs_more_evidence_and_a_tightening_restarts_the_count() -> None:
    v = load_verifier()
    est = LiveEstimator(v)
    est.record("a", "p", BUDGET, wrong=True)
    needed = _clean_probes_needed(BUDGET)
    assert not est.record_probe("a", "p", BUDGET, wrong=True)
    for _ in range(needed):
        assert not est.record_probe("a", "p", BUDGET, wrong=False)
    e = est.estimate("a")
    assert e is not None and (e.probed, e.probe_wrong) == (needed + 1, 1)
    assert wilson_interval(1, needed + 1)[1] > BUDGET
    # a second wrong served hit tightens again and throws the probes away
    assert est.record("a", "p", BUDGET, wrong=True)
    e = est.estimate("a")
    assert e is not None and e.probed == 0 and e.tightenings == 2
    # the next looser calibrated point that differs from the current one (a calibration
    # may hold one point over adjacent budgets)
    now = v.operating_point(BUDGET / 4)
    looser = next(v.operating_point(b) for b in (BUDGET / 2, BUDGET) if v.operating_point(b) != now)
    assert est.probe_point("a", "p", BUDGET) == looser


def test_a_closed_partition_reopens_one_calibrated_step_at_a_time() -> None:
    """Closed (stricter than any calibrated point) serves nothing, so served-hit checks
    could never reopen it; probes do: first the strictest point, then the next."""
    v = load_verifier()
    est = LiveEstimator(v)
    for _ in range(3):
        est.record("a", "p", BUDGET, wrong=True)
    assert est.accept_threshold("a", "p", BUDGET) == v.closed()
    strictest = v.calibration[0][0]
    steps = [est.accept_threshold("a", "p", BUDGET)]
    for _ in range(5):
        probe = est.probe_point("a", "p", BUDGET)
        if probe is None:
            break
        assert probe != steps[-1]
        for _ in range(_clean_probes_needed(BUDGET)):
            est.record_probe("a", "p", BUDGET, wrong=False)
        steps.append(est.accept_threshold("a", "p", BUDGET))
    assert steps[1] == v.operating_point(strictest)
    assert steps[-1] is None  # the alias's own point again
    # each step is another calibrated point, looser than the one before: both bars fall
    # or stay (a calibration may keep one bar over several budgets), never both stay
    points = [p if p is not None else v.operating_point(BUDGET) for p in steps]
    bars = [(p.accept, p.accept_reworded) for p in points]
    assert [b[0] for b in bars] == sorted((b[0] for b in bars), reverse=True)
    assert [b[1] for b in bars] == sorted((b[1] for b in bars), reverse=True)
    assert len(set(bars)) == len(bars)


def test_a_probe_loosens_only_the_tallies_stricter_than_its_level() -> None:
    """The alias is fine, one partition is tightened: its probes loosen it alone."""
    v = load_verifier()
    est = LiveEstimator(v)
    for i in range(3000):
        est.record("a", f"good{i % 50}", 0.05, wrong=False)
    est.record("a", "bad", 0.05, wrong=True)
    assert est.probe_point("a", "good1", 0.05) is None
    for _ in range(_clean_probes_needed(0.05)):
        est.record_probe("a", "bad", 0.05, wrong=False)
    assert est.accept_threshold("a", "bad", 0.05) is None
    e = est.estimate("a")
    assert e is not None and e.loosenings == 0 and e.probed == 0  # the alias was never stricter


def test_a_probe_of_a_band_that_has_since_changed_counts_for_nothing() -> None:
    """A comparison finishes after the alias was tightened again: the band it tested is
    no longer the one being probed, so it neither counts nor loosens."""
    v = load_verifier()
    est = LiveEstimator(v)
    est.record("a", "p", BUDGET, wrong=True)
    old = est.probe_point("a", "p", BUDGET)
    assert old == v.operating_point(BUDGET)
    # tightened again meanwhile, until the band changes (a calibration may hold one
    # point over adjacent budgets: tightening past it probes the same band)
    for _ in range(3):
        est.record("a", "p", BUDGET, wrong=True)
        if est.probe_point("a", "p", BUDGET) != old:
            break
    assert est.probe_point("a", "p", BUDGET) != old
    for _ in range(_clean_probes_needed(BUDGET)):
        assert not est.record_probe("a", "p", BUDGET, wrong=False, probed=old)
    e = est.estimate("a")
    assert e is not None and e.probed == 0 and e.loosenings == 0
    current = est.probe_point("a", "p", BUDGET)
    assert not est.record_probe("a", "p", BUDGET, wrong=False, probed=current)
    e = est.estimate("a")
    assert e is not None and e.probed == 1


def test_one_tenant_provoking_wrong_hits_tightens_itself_not_the_alias() -> None:
    """A cost attack: one tenant's wrong hits (here 20, over 4 partitions of its own)
    close its own partitions at once, while another tenant that has verified hits on
    the alias keeps the alias's own point."""
    v = load_verifier()
    est = LiveEstimator(v)
    for _ in range(30):
        assert not est.record("a", "alice-p", BUDGET, wrong=False, source="team:alice")
    for i in range(20):
        est.record("a", f"mallory-p{i % 4}", BUDGET, wrong=True, source="team:mallory")
    e = est.estimate("a")
    assert e is not None and (e.verified, e.wrong, e.tightenings) == (50, 20, 0)
    assert e.effective_budget == BUDGET
    assert est.accept_threshold("a", "alice-p", BUDGET) is None
    assert est.accept_threshold("a", "a-new-partition", BUDGET) is None
    # the hostile tenant's own partitions: closed on their own evidence
    for i in range(4):
        assert est.accept_threshold("a", f"mallory-p{i}", BUDGET) == v.closed()


def test_a_hostile_tenant_does_not_turn_a_rare_wrong_hit_into_a_tightening() -> None:
    """1 wrong hit in 601 verified of the other tenants keeps the 95% bound under 1%
    (0.94%): the alias is not tightened, however many wrong hits the hostile tenant
    added (counted with them, 21 of 621, it would be)."""
    est = LiveEstimator(load_verifier())
    for i in range(600):
        est.record("a", f"p{i % 7}", BUDGET, wrong=False, source=f"team:t{i % 3}")
    for _ in range(20):
        est.record("a", "bad", BUDGET, wrong=True, source="team:mallory")
    est.record("a", "p1", BUDGET, wrong=True, source="team:t1")  # p1 itself tightens
    e = est.estimate("a")
    assert e is not None and e.tightenings == 0 and e.wrong == 21
    assert est.accept_threshold("a", "p2", BUDGET) is None


def test_a_wrong_hit_rate_spread_over_tenants_still_tightens_the_alias() -> None:
    """Five tenants, each with 1 wrong hit in 20: from the second tenant's wrong hit on
    every one tightens the alias (the first tenant's evidence is the one left out), and
    a tenant that has not been verified yet gets the stricter point too."""
    v = load_verifier()
    est = LiveEstimator(v)
    tightened_at = []
    for step in range(20):
        for t in range(5):
            est.record("a", f"p{t}", BUDGET, wrong=step == 19, source=f"team:t{t}")
            e = est.estimate("a")
            if e is not None and e.tightenings > len(tightened_at):
                tightened_at.append((step, t))
    e = est.estimate("a")
    # each wrong hit but the first tenant's halves the budget (5 in 100 is far above 1%)
    assert e is not None and e.tightenings == 4 and e.effective_budget == BUDGET / 16
    assert [t for _, t in tightened_at] == [1, 2, 3, 4] and tightened_at[0][0] == 19
    assert est.accept_threshold("a", "someone-else", BUDGET) == v.closed()


def test_an_alias_with_one_tenant_tightens_on_its_evidence() -> None:
    """Nobody else shares the alias's point: one tenant's wrong hit tightens it as before."""
    v = load_verifier()
    est = LiveEstimator(v)
    est.record("a", "p", BUDGET, wrong=False, source="team:solo")
    assert est.record("a", "q", BUDGET, wrong=True, source="team:solo")
    assert est.accept_threshold("a", "other", BUDGET) == v.operating_point(BUDGET / 2)
