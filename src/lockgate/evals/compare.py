"""Baseline against candidate on the same cases, tested pairwise, with a CI-ready verdict.

- pass/fail: the exact McNemar test on the discordant pairs, and the pass-rate change with a
  paired bootstrap interval;
- scores (rubric, similar): the mean paired difference with a paired bootstrap interval;
- pairwise assertions: the candidate's win rate against the baseline (ties count half).

The candidate *regresses* when a change is worse than the gate's margin and significant
(McNemar p < alpha; or the bootstrap interval lies wholly below zero / below one half).
Exit codes: 0 no regression, 1 regression, 2 errors (a comparison with ERRORs is not trusted).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lockgate.evals.runner import RunResult
from lockgate.evals.stats import Interval, McNemar, mcnemar_exact, paired_bootstrap
from lockgate.evals.suite import GateSettings
from lockgate.evals.verdict import CaseResult

__all__ = ["Comparison", "PairedCase", "compare_runs"]

_SYMMETRIC = ("rubric", "similar")


def _symmetric_score(r: CaseResult) -> float | None:
    scores = [
        v.score
        for v in r.verdicts
        if v.type in _SYMMETRIC and v.score is not None and v.status != "error"
    ]
    return sum(scores) / len(scores) if scores else None


def _pairwise_score(r: CaseResult) -> float | None:
    scores = [
        v.score
        for v in r.verdicts
        if v.type == "pairwise" and v.score is not None and v.status != "error"
    ]
    return sum(scores) / len(scores) if scores else None


@dataclass(frozen=True, slots=True)
class PairedCase:
    case_id: str
    repeat: int
    baseline: CaseResult
    candidate: CaseResult


@dataclass(slots=True)
class Comparison:
    baseline: str
    candidate: str
    pairs: list[PairedCase]
    errors: int
    mcnemar: McNemar
    pass_rate_delta: Interval
    score_delta: Interval | None
    win_rate: Interval | None
    gate: GateSettings
    reasons: list[str] = field(default_factory=list)

    @property
    def regression(self) -> bool:
        return bool(self.reasons)

    @property
    def exit_code(self) -> int:
        if self.errors:
            return 2
        return 1 if self.regression else 0

    def to_json(self) -> dict[str, Any]:
        def iv(x: Interval | None) -> Any:
            return None if x is None or math.isnan(x.estimate) else x.to_json()

        return {
            "baseline": self.baseline,
            "candidate": self.candidate,
            "pairs": len(self.pairs),
            "errors": self.errors,
            "mcnemar": {
                "baseline_only_passed": self.mcnemar.lost,
                "candidate_only_passed": self.mcnemar.gained,
                "p_value": self.mcnemar.p_value,
            },
            "pass_rate_delta": iv(self.pass_rate_delta),
            "score_delta": iv(self.score_delta),
            "win_rate": iv(self.win_rate),
            "gate": self.gate.model_dump(),
            "regression": self.regression,
            "reasons": self.reasons,
            "exit_code": self.exit_code,
        }


def compare_runs(
    run: RunResult, baseline: str, candidate: str, gate: GateSettings, rng: np.random.Generator
) -> Comparison:
    base = {(r.case_id, r.repeat): r for r in run.for_target(baseline)}
    pairs: list[PairedCase] = []
    errors = 0
    for r in run.for_target(candidate):
        b = base.get((r.case_id, r.repeat))
        if b is None:
            continue
        if r.status == "error" or b.status == "error":
            errors += 1
            continue
        pairs.append(PairedCase(r.case_id, r.repeat, b, r))
    lost = sum(p.baseline.status == "pass" and p.candidate.status == "fail" for p in pairs)
    gained = sum(p.baseline.status == "fail" and p.candidate.status == "pass" for p in pairs)
    test = mcnemar_exact(lost, gained)
    diffs = [
        float(p.candidate.status == "pass") - float(p.baseline.status == "pass") for p in pairs
    ]
    pass_delta = paired_bootstrap(diffs, rng)
    score_diffs = [
        cs - bs
        for p in pairs
        if (bs := _symmetric_score(p.baseline)) is not None
        and (cs := _symmetric_score(p.candidate)) is not None
    ]
    score_delta = paired_bootstrap(score_diffs, rng) if score_diffs else None
    wins = [w for p in pairs if (w := _pairwise_score(p.candidate)) is not None]
    win_rate = paired_bootstrap(wins, rng) if wins else None
    reasons = []
    if pairs and pass_delta.estimate < -gate.pass_rate_margin and test.p_value < gate.alpha:
        reasons.append(
            f"pass rate fell by {-pass_delta.estimate:.1%} (margin {gate.pass_rate_margin:.1%};"
            f" McNemar p={test.p_value:.3g})"
        )
    if (
        score_delta is not None
        and score_delta.estimate < -gate.score_margin
        and score_delta.high < 0
    ):
        reasons.append(
            f"mean score fell by {-score_delta.estimate:.3f} (margin {gate.score_margin};"
            f" 95% CI [{score_delta.low:.3f}, {score_delta.high:.3f}])"
        )
    if win_rate is not None and win_rate.estimate < 0.5 - gate.score_margin and win_rate.high < 0.5:
        reasons.append(
            f"judge prefers the baseline: candidate win rate {win_rate.estimate:.1%}"
            f" (95% CI [{win_rate.low:.1%}, {win_rate.high:.1%}])"
        )
    return Comparison(
        baseline=baseline,
        candidate=candidate,
        pairs=pairs,
        errors=errors,
        mcnemar=test,
        pass_rate_delta=pass_delta,
        score_delta=score_delta,
        win_rate=win_rate,
        gate=gate,
        reasons=reasons,
    )
