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
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

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


@dataclass(slots=True)
class Observations:
    """What one variant saw.  Each metric list holds one value per analysis unit: the
    mean over that unit's requests (or ratings), so a heavy user counts once and the
    samples the intervals assume independent are independent (the randomisation unit
    is the analysis unit).  ``latency_raw`` keeps every request for the percentiles."""

    requests: int = 0
    units: int = 0
    latency_raw: list[float] = field(default_factory=list)
    error: list[float] = field(default_factory=list)
    latency_ms: list[float] = field(default_factory=list)
    cost_usd: list[float] = field(default_factory=list)
    tokens: list[float] = field(default_factory=list)
    score: list[float] = field(default_factory=list)
    thumbs: list[float] = field(default_factory=list)
    task_completed: list[float] = field(default_factory=list)
    judge_score: list[float] = field(default_factory=list)

    def values(self, metric: str) -> list[float]:
        name = "error" if metric == "error_rate" else metric
        values: list[float] = getattr(self, name)
        return values


#: a served request: (variant, unit, status, latency_ms, cost_usd, tokens)
RequestRow = tuple[str | None, str | None, int, float, float, float]
#: a rating: (variant, unit, score, thumbs, task_completed, judge_score)
RatingRow = tuple[str | None, str | None, Any, Any, Any, Any]


def collapse(
    requests: Sequence[RequestRow], ratings: Sequence[RatingRow]
) -> dict[str, Observations]:
    """Per variant, per-unit means of every metric (a missing unit counts alone)."""
    acc: dict[str, dict[str, dict[str, list[float]]]] = {}
    out: dict[str, Observations] = {}

    def unit_bucket(variant: str | None, unit: str | None, fallback: int) -> dict[str, list[float]]:
        per_variant = acc.setdefault(variant or "", {})
        key = unit if unit is not None else f"\0{fallback}"
        return per_variant.setdefault(key, {})

    for i, (variant, unit, status, lat, cost, tokens) in enumerate(requests):
        obs = out.setdefault(variant or "", Observations())
        obs.requests += 1
        obs.latency_raw.append(float(lat))
        b = unit_bucket(variant, unit, i)
        b.setdefault("error", []).append(1.0 if status >= 500 else 0.0)
        b.setdefault("latency_ms", []).append(float(lat))
        b.setdefault("cost_usd", []).append(float(cost))
        b.setdefault("tokens", []).append(float(tokens))
    for j, (variant, unit, score, thumbs, done, judge) in enumerate(ratings):
        out.setdefault(variant or "", Observations())
        b = unit_bucket(variant, unit, -1 - j)
        if score is not None:
            b.setdefault("score", []).append(float(score))
        if thumbs is not None:
            b.setdefault("thumbs", []).append(1.0 if thumbs == "up" else 0.0)
        if done is not None:
            b.setdefault("task_completed", []).append(1.0 if done else 0.0)
        if judge is not None:
            b.setdefault("judge_score", []).append(float(judge))
    for variant, units in acc.items():
        obs = out[variant]
        for values in units.values():
            if "error" in values:
                obs.units += 1
            for name, xs in values.items():
                getattr(obs, name).append(sum(xs) / len(xs))
    return out


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
