"""The strong/weak router's model: a linear score over the prompt's MiniLM embedding and
a few text features, predicting how much more likely the strong model is to answer it
correctly than the weak one. Trained by ``bench/train_router.py``; its weights ship in
this package (``router_weights.npz``, a few KB). Pure: no I/O after loading."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from lockgate.routing.features import N_TEXT_FEATURES, text_features

__all__ = ["WEIGHTS", "RouterModel"]

WEIGHTS = Path(__file__).with_name("router_weights.npz")
F32 = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class RouterModel:
    coef: F32
    intercept: float
    #: (quality floor, threshold) pairs from cross-validated scores on the training data
    floors: tuple[tuple[float, float], ...]
    #: sorted out-of-fold scores of the training prompts: a prior for share → threshold
    prior_scores: F32
    dim: int

    @classmethod
    def load(cls, path: Path = WEIGHTS) -> RouterModel:
        with np.load(path) as z:
            coef = np.asarray(z["coef"], dtype=np.float32)
            floors = tuple((float(a), float(b)) for a, b in np.asarray(z["floors"]))
            return cls(
                coef=coef,
                intercept=float(z["intercept"]),
                floors=floors,
                prior_scores=np.sort(np.asarray(z["prior_scores"], dtype=np.float32)),
                dim=len(coef) - N_TEXT_FEATURES,
            )

    def score(self, embedding: F32, text: str) -> float:
        """Predicted accuracy gain of the strong model on this prompt (higher: strong)."""
        emb = float(np.dot(self.coef[: self.dim], embedding))
        feats = float(np.dot(self.coef[self.dim :], np.asarray(text_features(text), np.float32)))
        return emb + feats + self.intercept

    def threshold_for_floor(self, floor: float) -> float:
        """The calibrated threshold that kept ``floor`` of the strong model's accuracy."""
        best = self.floors[-1][1]
        for f, t in self.floors:  # ascending floors, descending thresholds
            if f >= floor:
                return t
        return best

    def threshold_for_share(self, share: float) -> float:
        """The score above which ``share`` of the training prompts fall (a prior)."""
        return _quantile_threshold(self.prior_scores, share)


def _quantile_threshold(sorted_scores: F32, share: float) -> float:
    n = len(sorted_scores)
    if n == 0 or share >= 1.0:
        return float("-inf")
    if share <= 0.0:
        return float("inf")
    k = min(n - 1, max(0, round((1.0 - share) * n)))
    return float(sorted_scores[k])
