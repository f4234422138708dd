"""What each experiment variant observed: per-unit means of every metric (pure, no numpy).

Kept apart from ``analysis`` (numpy + scipy) so the serving path (the rollout driver and the
experiment repository) can collapse rows without importing the statistics stack.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Observations", "RatingRow", "RequestRow", "collapse"]


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
