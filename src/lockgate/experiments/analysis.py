"""Per-variant metrics, always-valid comparisons and the sample-ratio alarm (pure).

Input: per variant, the raw observations lockgate has about the requests it served
(status, latency, cost, tokens; feedback score, thumbs, task completion and judge
score joined by request id).  Output: a table with each metric's mean and count per
variant and, for every non-control variant, the always-valid interval of its
difference to the control (see ``sequential``), plus a chi-square sample-ratio
mismatch test of the observed split against the configured weights (alarm at
p < 0.001, as Kohavi et al. recommend).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from lockgate.experiments.observations import Observations, RatingRow, RequestRow, collapse
from lockgate.experiments.sequential import Interval, interval
from lockgate.experiments.spec import LOWER_IS_BETTER, METRICS, ExperimentSpec

__all__ = [
    "SRM_P",
    "Observations",
    "RatingRow",
    "Report",
    "RequestRow",
    "analyse",
    "collapse",
    "srm_p_value",
]

SRM_P = 0.001


def srm_p_value(counts: Sequence[int], weights: Sequence[float]) -> float | None:
    """Chi-square goodness-of-fit p of ``counts`` against ``weights`` (None: no data)."""
    total = sum(counts)
    if total == 0:
        return None
    w = np.asarray(weights, dtype=float)
    expected = total * w / w.sum()
    return float(stats.chisquare(np.asarray(counts, dtype=float), expected).pvalue)


def _summary(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0, "mean": None}
    arr = np.asarray(values, dtype=float)
    return {"n": int(arr.size), "mean": float(arr.mean())}


@dataclass(slots=True)
class Report:
    spec: ExperimentSpec
    variants: dict[str, dict[str, Any]]
    comparisons: dict[str, dict[str, Interval | None]]
    srm_p: float | None
    decision: dict[str, Any]

    @property
    def srm_alarm(self) -> bool:
        return self.srm_p is not None and self.srm_p < SRM_P

    def to_json(self) -> dict[str, Any]:
        return {
            "experiment": self.spec.name,
            "prompt": self.spec.prompt,
            "label": self.spec.label,
            "metric": self.spec.metric,
            "alpha": self.spec.alpha,
            "method": "mSPRT always-valid confidence sequence (normal mixture)",
            "variants": self.variants,
            "comparisons": {
                v: {m: (i.to_json() if i is not None else None) for m, i in by.items()}
                for v, by in self.comparisons.items()
            },
            "srm": {"p_value": self.srm_p, "alarm": self.srm_alarm, "threshold": SRM_P},
            "decision": self.decision,
        }


def analyse(spec: ExperimentSpec, data: dict[str, Observations]) -> Report:
    """Summaries, intervals against the control, SRM, and the decision on ``spec.metric``."""
    control = spec.variants[0].name
    variants: dict[str, dict[str, Any]] = {}
    for v in spec.variants:
        obs = data.get(v.name, Observations())
        row: dict[str, Any] = {"requests": obs.requests, "weight": v.weight}
        for metric in METRICS:
            row[metric] = _summary(obs.values(metric))
        row["units"] = obs.units
        if obs.latency_raw:
            row["latency_p50_ms"] = float(np.percentile(obs.latency_raw, 50))
            row["latency_p95_ms"] = float(np.percentile(obs.latency_raw, 95))
        variants[v.name] = row
    base = data.get(control, Observations())
    comparisons: dict[str, dict[str, Interval | None]] = {}
    for v in spec.variants[1:]:
        obs = data.get(v.name, Observations())
        by: dict[str, Interval | None] = {}
        for metric in METRICS:
            a, b = base.values(metric), obs.values(metric)
            if not a or not b:
                by[metric] = None
                continue
            tau2 = spec.tau2 if metric == spec.metric else _tau2(metric, a)
            by[metric] = interval(
                float(np.mean(a)),
                float(np.var(a, ddof=1)) if len(a) > 1 else 0.0,
                len(a),
                float(np.mean(b)),
                float(np.var(b, ddof=1)) if len(b) > 1 else 0.0,
                len(b),
                tau2=tau2,
                alpha=spec.alpha,
            )
        comparisons[v.name] = by
    srm = srm_p_value(
        [data.get(v.name, Observations()).units for v in spec.variants],
        [v.weight for v in spec.variants],
    )
    return Report(spec, variants, comparisons, srm, _decide(spec, comparisons, srm))


def _tau2(metric: str, control: list[float]) -> float:
    """Secondary metrics: a mixture tuned to a tenth of the control's mean (or its spread)."""
    from lockgate.experiments.spec import DEFAULT_MDE

    scale = DEFAULT_MDE[metric]
    if metric in ("latency_ms", "cost_usd", "tokens") and control:
        scale = max(abs(float(np.mean(control))) * 0.1, 1e-9)
    return scale * scale


def _decide(
    spec: ExperimentSpec, comparisons: dict[str, dict[str, Interval | None]], srm: float | None
) -> dict[str, Any]:
    """The stated rule: a variant wins (loses) once its interval on the primary metric
    lies wholly on the better (worse) side of 0; an SRM alarm blocks any decision."""
    if srm is not None and srm < SRM_P:
        return {"state": "blocked", "reason": "sample ratio mismatch", "winner": None}
    lower = spec.metric in LOWER_IS_BETTER
    winners: list[tuple[float, str]] = []
    losers: list[tuple[float, str]] = []
    for name, by in comparisons.items():
        iv = by.get(spec.metric)
        if iv is None or not iv.excludes_zero:
            continue
        better = iv.high < 0 if lower else iv.low > 0
        (winners if better else losers).append((abs(iv.difference), name))
    if winners:
        return {"state": "winner", "winner": max(winners)[1], "losers": [n for _, n in losers]}
    if losers and len(losers) == len(comparisons):
        return {"state": "control_wins", "winner": spec.variants[0].name}
    return {"state": "no_decision", "winner": None}
