"""The strong/weak router's model: two linear scores over the prompt's MiniLM embedding and
a few text features, one for multiple-choice questions and one for everything else (word
problems, open questions), each predicting how likely the weak model is to get the prompt
wrong where the strong one gets it right.

The score is on one scale for both branches: the share of the strong model's accuracy
lost, on training prompts of the same kind (cross-validated), if this prompt and every
prompt of its kind scoring below it went to the weak model. A threshold ``t`` therefore
keeps about ``1 - t`` of the strong model's quality on either kind of prompt: a quality
floor of 0.95 is the threshold 0.05, whatever the mix. Trained by
``bench/train_router.py``; the weights ship in this package (``router_weights.npz``, a
few KB). Pure: no I/O after loading."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from lockgate.routing.features import N_TEXT_FEATURES, is_multiple_choice, text_features

__all__ = ["EMBED_CHARS", "WEIGHTS", "RouterModel", "embedding_text", "quality_loss"]

WEIGHTS = Path(__file__).with_name("router_weights.npz")
F32 = npt.NDArray[np.float32]
#: the embedding sees the prompt's last characters: MiniLM reads 256 tokens (about
#: 1,000 characters) and a long prompt's question and options come at its end
EMBED_CHARS = 1000


def embedding_text(text: str) -> str:
    """The part of the prompt the router embeds (the text features see all of it)."""
    return text[-EMBED_CHARS:]


@dataclass(frozen=True, slots=True)
class RouterModel:
    #: one row of weights per branch: 0 multiple choice, 1 anything else
    coef: F32
    intercept: F32
    #: per branch, raw scores at evenly spaced percentiles (0..1) of its training prompts
    knots: F32
    #: per branch, the quality lost at each of those percentiles (increasing)
    loss: F32
    #: sorted out-of-fold scores of the training prompts: a prior for share → threshold
    prior_scores: F32
    dim: int
    #: optional: branches scored by several linear members instead of their coef row:
    #: each member's raw score goes to its training percentile (through its knots) and the
    #: branch's raw score is their sum (a rank average); one row per member
    member_branch: npt.NDArray[np.int64] | None = None
    member_coef: F32 | None = None
    member_intercept: F32 | None = None
    member_knots: F32 | None = None

    @classmethod
    def load(cls, path: Path = WEIGHTS) -> RouterModel:
        with np.load(path) as z:
            coef = np.asarray(z["coef"], dtype=np.float32)
            return cls(
                coef=coef,
                intercept=np.asarray(z["intercept"], dtype=np.float32),
                knots=np.asarray(z["knots"], dtype=np.float32),
                loss=np.asarray(z["loss"], dtype=np.float32),
                prior_scores=np.sort(np.asarray(z["prior_scores"], dtype=np.float32)),
                dim=coef.shape[1] - N_TEXT_FEATURES,
                **{k: _array(z, k) for k in _MEMBERS if k in z.files},
            )

    def raw(self, embedding: F32, text: str) -> tuple[int, float]:
        """The prompt's branch and its linear score there (the logit scale of training)."""
        branch = 0 if is_multiple_choice(text) else 1
        feats = np.asarray(text_features(text), np.float32)
        if self.member_branch is not None and (self.member_branch == branch).any():
            assert self.member_coef is not None and self.member_intercept is not None
            assert self.member_knots is not None
            idx = np.flatnonzero(self.member_branch == branch)
            w = self.member_coef[idx]
            raws = w[:, : self.dim] @ embedding + w[:, self.dim :] @ feats
            raws += self.member_intercept[idx]
            grid = np.linspace(0.0, 1.0, self.member_knots.shape[1], dtype=np.float32)
            total = sum(
                quality_loss(self.member_knots[i], grid, float(r))
                for i, r in zip(idx, raws, strict=True)
            )
            return branch, float(total)
        w = self.coef[branch]
        emb = float(np.dot(w[: self.dim], embedding))
        return branch, emb + float(np.dot(w[self.dim :], feats)) + float(self.intercept[branch])

    def score(self, embedding: F32, text: str) -> float:
        """Higher: more in need of the strong model (the quality-loss scale above)."""
        branch, raw = self.raw(embedding, text)
        return quality_loss(self.knots[branch], self.loss[branch], raw)

    def threshold_for_floor(self, floor: float) -> float:
        """The threshold that kept ``floor`` of the strong model's accuracy in training."""
        return 1.0 - floor

    def threshold_for_share(self, share: float) -> float:
        """The score above which ``share`` of the training prompts fall (a prior)."""
        return _quantile_threshold(self.prior_scores, share)


_MEMBERS = ("member_branch", "member_coef", "member_intercept", "member_knots")


def _array(z: Any, key: str) -> npt.NDArray[Any]:
    return np.asarray(z[key], dtype=np.int64 if key == "member_branch" else np.float32)


def quality_loss(knots: F32, loss: F32, raw: float) -> float:
    """``raw`` on the quality-loss scale: piecewise linear through (knot, loss) pairs;
    beyond the knots the line goes on at the average slope, so the scale stays strictly
    increasing (no ties a share policy could not split)."""
    lo, hi = float(knots[0]), float(knots[-1])
    slope = (float(loss[-1]) - float(loss[0])) / (hi - lo)
    if raw < lo:
        return float(loss[0]) + (raw - lo) * slope
    if raw > hi:
        return float(loss[-1]) + (raw - hi) * slope
    return float(np.interp(raw, knots, loss))


def _quantile_threshold(sorted_scores: F32, share: float) -> float:
    n = len(sorted_scores)
    if n == 0 or share >= 1.0:
        return float("-inf")
    if share <= 0.0:
        return float("inf")
    k = min(n - 1, max(0, round((1.0 - share) * n)))
    return float(sorted_scores[k])
