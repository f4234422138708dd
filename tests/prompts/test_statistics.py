"""Always-valid intervals, the SRM alarm, the decision rule and the rollout state machine."""

from __future__ import annotations

import numpy as np
import pytest

from lockgate.experiments.analysis import Observations, analyse, collapse, srm_p_value
from lockgate.experiments.rollout import ArmStats, advance, check, start
from lockgate.experiments.sequential import MIN_SAMPLES, interval
from lockgate.experiments.spec import ExperimentSpec, RolloutSpec


def spec(**over):
    """A two-arm experiment on thumbs."""
    base = {
        "name": "e",
        "prompt": "p",
        "variants": [{"name": "control"}, {"name": "b", "version": 2}],
    }
    return ExperimentSpec.model_validate({**base, **over})


def test_interval_is_wider_than_a_fixed_horizon_one_and_shrinks():
    """The confidence sequence is wider than the z interval and narrows with n."""
    small = interval(0.5, 0.25, 100, 0.6, 0.24, 100, tau2=0.0025)
    big = interval(0.5, 0.25, 10_000, 0.6, 0.24, 10_000, tau2=0.0025)
    assert small is not None and big is not None
    z_half = 1.96 * np.sqrt(0.25 / 100 + 0.24 / 100)
    assert (small.high - small.low) / 2 > z_half
    assert big.high - big.low < small.high - small.low
    assert big.excludes_zero and big.p_value < 0.05
    assert interval(0.5, 0.25, MIN_SAMPLES - 1, 0.6, 0.24, 500, tau2=0.01) is None


def test_srm_alarm_on_a_skewed_split():
    """A 50/50 experiment that saw 5,000 vs 4,600 units raises the alarm; 5,000/4,950 not."""
    assert srm_p_value([5000, 4600], [50, 50]) < 0.001
    assert srm_p_value([5000, 4950], [50, 50]) > 0.001
    assert srm_p_value([0, 0], [1, 1]) is None


def test_decision_names_the_winner_on_the_primary_metric():
    """A variant with clearly more thumbs-up wins; SRM blocks any decision."""
    rng = np.random.default_rng(1)
    a = Observations(2000, 2000, thumbs=list(rng.binomial(1, 0.5, 2000).astype(float)))
    b = Observations(2000, 2000, thumbs=list(rng.binomial(1, 0.65, 2000).astype(float)))
    report = analyse(spec(), {"control": a, "b": b})
    assert report.decision["state"] == "winner" and report.decision["winner"] == "b"
    assert report.to_json()["comparisons"]["b"]["thumbs"]["low"] > 0
    skewed = Observations(2600, 2600, thumbs=b.thumbs)
    assert analyse(spec(), {"control": a, "b": skewed}).decision["state"] == "blocked"


def test_equal_arms_make_no_decision():
    """A/A data leaves the decision open."""
    rng = np.random.default_rng(2)
    arms = {
        n: Observations(requests=800, score=list(rng.normal(0, 1, 800))) for n in ("control", "b")
    }
    assert analyse(spec(metric="score"), arms).decision["state"] == "no_decision"


def test_collapse_counts_each_unit_once():
    """A heavy user is one sample of its mean; two ratings of a request do not double it."""
    requests = [("a", "heavy", 200, 10.0, 0.1, 5.0)] * 9 + [("a", "light", 500, 30.0, 0.1, 5.0)]
    ratings = [("a", "heavy", 1.0, "up", None, None), ("a", "heavy", 0.0, "down", None, 0.5)]
    obs = collapse(requests, ratings)["a"]
    assert (obs.requests, obs.units) == (10, 2)
    assert sorted(obs.error) == [0.0, 1.0] and sorted(obs.latency_ms) == [10.0, 30.0]
    assert obs.thumbs == [0.5] and obs.score == [0.5] and obs.judge_score == [0.5]
    assert len(obs.latency_raw) == 10
    per_request = collapse([("a", None, 200, 1.0, 0.0, 1.0)] * 3, [])["a"]
    assert per_request.units == 3


def rollout(**over):
    """A rollout spec with short intervals."""
    return RolloutSpec.model_validate(
        {"name": "r", "prompt": "p", "to_version": 2, "interval_seconds": 10, **over}
    )


def test_rollout_rolls_back_after_failure_limit_consecutive_fails():
    """Two failed checks in a row roll back at started + 2 x interval; a pass resets."""
    s = rollout(failure_limit=2, min_requests=10)
    st = start(s, 1, now=100.0)
    bad, good = ArmStats(requests=50, errors=5), ArmStats(requests=400, errors=0)
    assert check(s, bad, good)[0] == "fail"
    advance(s, st, "fail", ["x"], now=110.0, due=st.next_check_at)
    advance(s, st, "pass", [], now=120.0, due=st.next_check_at)
    assert st.failures == 0 and st.step == 1
    advance(s, st, "fail", ["x"], now=130.0, due=st.next_check_at)
    events = advance(s, st, "fail", ["x"], now=140.0, due=st.next_check_at)
    assert st.status == "rolled_back" and st.weight(s) == 0
    assert [e["kind"] for e in events] == ["fail", "rollback"]


def test_rollout_steps_then_succeeds_and_inconclusive_changes_nothing():
    """Passing every step ends at 100%; too few canary requests is inconclusive."""
    s = rollout(steps=[10, 100], min_requests=20)
    st = start(s, 1, now=0.0)
    assert check(s, ArmStats(requests=5), ArmStats(requests=100))[0] == "inconclusive"
    advance(s, st, "inconclusive", [], now=10.0, due=10.0)
    assert st.step == 0 and st.failures == 0 and st.next_check_at == 20.0
    advance(s, st, "pass", [], now=20.0, due=20.0)
    advance(s, st, "pass", [], now=30.0, due=30.0)
    assert st.status == "succeeded" and st.weight(s) == 100


@pytest.mark.parametrize(
    ("canary", "stable", "reason"),
    [
        (ArmStats(requests=100, p95_ms=900), ArmStats(requests=100, p95_ms=300), "p95"),
        (
            ArmStats(requests=100, cost_per_request=3.0),
            ArmStats(requests=100, cost_per_request=1.0),
            "cost",
        ),
    ],
)
def test_rollout_guards(canary, stable, reason):
    """Latency and cost guards fail the check with a reason naming the guard."""
    result, reasons = check(rollout(min_requests=10), canary, stable)
    assert result == "fail" and reasons[0].startswith(reason)


def test_rollout_spec_validation():
    """Steps must rise to exactly 100."""
    with pytest.raises(ValueError, match="rise"):
        rollout(steps=[50, 25, 100])
    with pytest.raises(ValueError, match="100"):
        rollout(steps=[5, 50])
