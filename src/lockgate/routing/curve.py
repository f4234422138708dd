"""The routing curve of a labelled sample: strong-call share against the share of the
strong model's accuracy kept, with bootstrap intervals, and the share a quality floor
needs. Pure: scores and labels in, figures out (``rng`` passed in)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["Curve", "CurvePoint", "routing_curve"]

Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class CurvePoint:
    share: float
    #: share of the strong model's accuracy kept, and its bootstrap 95% interval
    kept: float
    low: float
    high: float
    #: what random routing at this share keeps (its expectation)
    random: float


@dataclass(frozen=True, slots=True)
class Curve:
    n: int
    weak_accuracy: float
    strong_accuracy: float
    points: list[CurvePoint]
    floor: float
    #: the smallest strong share keeping ``floor``, its bootstrap 95% interval,
    #: and the score threshold that routes that share of this sample
    share_needed: float
    share_low: float
    share_high: float
    threshold: float

    def to_json(self) -> dict[str, object]:
        return {
            "n": self.n,
            "weak_accuracy": self.weak_accuracy,
            "strong_accuracy": self.strong_accuracy,
            "points": [
                {"share": p.share, "kept": p.kept, "low": p.low, "high": p.high, "random": p.random}
                for p in self.points
            ],
            "floor": self.floor,
            "share_needed": self.share_needed,
            "share_low": self.share_low,
            "share_high": self.share_high,
            "threshold": self.threshold,
        }


def _kept_by_share(scores: Floats, weak: Bools, strong: Bools) -> Floats:
    """Kept quality when the top k prompts by score go strong, for k = 0..n (one pass)."""
    order = np.argsort(-scores, kind="stable")
    gain = strong[order].astype(np.float64) - weak[order].astype(np.float64)
    correct = weak.sum() + np.concatenate([[0.0], np.cumsum(gain)])
    best = float(strong.sum())
    return correct / best if best else np.ones(len(correct))


def _at(kept: Floats, share: float) -> float:
    return float(kept[round(share * (len(kept) - 1))])


def _needed(kept: Floats, floor: float) -> float:
    """The smallest share k/n of strong calls whose kept quality reaches ``floor``."""
    n = len(kept) - 1
    k = int(np.argmax(kept >= floor - 1e-12)) if (kept >= floor - 1e-12).any() else n
    return k / n


def routing_curve(
    scores: Floats,
    weak: Bools,
    strong: Bools,
    rng: np.random.Generator,
    *,
    floor: float = 0.95,
    shares: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
    boots: int = 500,
) -> Curve:
    """The curve of ``scores`` (higher: more in need of the strong model) on a sample
    where ``weak``/``strong`` say whether each model answered each prompt right."""
    n = len(scores)
    if n == 0 or len(weak) != n or len(strong) != n:
        raise ValueError("scores, weak and strong must be non-empty and of one length")
    kept = _kept_by_share(scores, weak, strong)
    samples = [rng.integers(0, n, n) for _ in range(boots)]
    boot = [_kept_by_share(scores[i], weak[i], strong[i]) for i in samples]
    w, s = float(weak.mean()), float(strong.mean())
    points = []
    for share in shares:
        lo, hi = np.percentile([_at(b, share) for b in boot], [2.5, 97.5])
        rand = (w + share * (s - w)) / s if s else 1.0
        points.append(CurvePoint(share, _at(kept, share), float(lo), float(hi), rand))
    needed = _needed(kept, floor)
    lo, hi = np.percentile([_needed(b, floor) for b in boot], [2.5, 97.5])
    k = round(needed * n)
    ranked = np.sort(scores)[::-1]
    threshold = float("inf") if k == 0 else float(ranked[k - 1]) - 1e-9
    return Curve(
        n=n,
        weak_accuracy=w,
        strong_accuracy=s,
        points=points,
        floor=floor,
        share_needed=needed,
        share_low=float(lo),
        share_high=float(hi),
        threshold=threshold,
    )
