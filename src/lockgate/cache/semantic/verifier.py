"""The learned verifier: "would the answer cached for B be a right answer to A?"

Cosine similarity of sentence vectors ranks candidates well but cannot tell a
paraphrase from a near miss with the same words ("flights from Paris to Rome"
/ "from Rome to Paris" score 0.99). The verifier looks at a pair more closely,
through features that are cheap once the texts' token vectors are known:

* the sentence cosine;
* token alignment: each token's best match in the other text (MiniLM's
  contextual token vectors), averaged and at its weakest, both ways;
* order: whether aligned tokens appear in the same order and place;
* lexical overlap and length;
* the near-miss guards of ``guards``, as inputs rather than vetoes.

A small model (logistic regression or a one-hidden-layer network, trained by
``bench/train_verifier.py`` on public paraphrase data) turns them into a
probability; the alias's error budget picks the probability to accept at
(``operating_point``). Weights and the calibration table ship as JSON next to
this module (a few kB), evaluated here with numpy.

Two kinds of pair need different tests (``Regime``). A *near copy* shares
most of its words with the cached text (word Jaccard >= 0.7, or at most two
words differ): that is where near misses live ("Paris to Rome" / "Rome to
Paris", "is" / "isn't"), and the model decides. A *rewording* shares few
words; there the sentence cosine ranks paraphrases better than the model (on
STS-B dev, at a 1% false-hit rate, cosine keeps 31.6% of true paraphrases in
sample and the model 23.2%), so a rewording is accepted on cosine alone,
above a threshold calibrated for the same budget. Each budget thus has two
thresholds, chosen together so that every calibration source keeps its
false-hit limit (``bench/train_verifier.py``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np
import numpy.typing as npt

from lockgate.cache.semantic.embedder import TokenVectors
from lockgate.cache.semantic.guards import GUARDS, Features
from lockgate.cache.semantic.settings import CACHE_ENCODER

__all__ = [
    "FEATURE_NAMES",
    "OperatingPoint",
    "Regime",
    "Verifier",
    "VerifierError",
    "differing_words",
    "load_verifier",
    "pair_features",
    "word_jaccard",
]

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

_ALIGN = 0.75  # a token counts as aligned when its best match is at least this similar
_MAX_ORDER_TOKENS = 64

FEATURE_NAMES: tuple[str, ...] = (
    "cosine",
    "align_mean_a",
    "align_mean_b",
    "align_min_a",
    "align_min_b",
    "align_p10",
    "unaligned_frac",
    "order_concordance",
    "position_shift",
    "same_words_reordered",
    "word_jaccard",
    "length_ratio",
    "log_tokens",
    *(f"guard_{name}" for name in GUARDS),
)


class VerifierError(Exception):
    """The verifier's weights are missing or malformed."""


def _alignment(a: F32, b: F32) -> tuple[F32, F32, npt.NDArray[np.intp]]:
    sims = a @ b.T
    return sims.max(axis=1), sims.max(axis=0), sims.argmax(axis=1)


def _order(best_a: F32, arg_a: npt.NDArray[np.intp], nb: int) -> tuple[float, float]:
    """Concordance of aligned positions (1 = same order) and mean relative shift."""
    keep = np.flatnonzero(best_a >= _ALIGN)[:_MAX_ORDER_TOKENS]
    na = len(best_a)
    if len(keep) < 2:
        return 1.0, 0.0
    i = keep.astype(np.float64)
    j = arg_a[keep].astype(np.float64)
    di = i[:, None] - i[None, :]
    dj = j[:, None] - j[None, :]
    upper = np.triu(np.ones((len(keep), len(keep)), dtype=bool), 1)
    concordant = float(((di * dj) > 0)[upper].mean())
    shift = float(np.abs(i / max(na - 1, 1) - j / max(nb - 1, 1)).mean())
    return concordant, shift


def _p10(x: F32) -> float:
    """``np.percentile(x, 10)`` (linear interpolation, same result to the bit), by a
    partial sort: ten times cheaper than the general quantile machinery."""
    n = len(x)
    pos = 0.1 * (n - 1)
    lo = int(pos)
    hi = min(lo + 1, n - 1)
    part = np.partition(x, (lo, hi)) if hi != lo else np.partition(x, lo)
    a, b = part[lo], part[hi]
    t = pos - lo
    d = b - a
    return float(b - d * (1 - t)) if t >= 0.5 else float(a + d * t)


def pair_features(a: TokenVectors, fa: Features, b: TokenVectors, fb: Features) -> F32:
    """The verifier's input for query ``a`` against cached text ``b`` (``FEATURE_NAMES``)."""
    best_a, best_b, arg_a = _alignment(a.tokens, b.tokens)
    both = np.concatenate([best_a, best_b])
    concordant, shift = _order(best_a, arg_a, len(best_b))
    reordered = fa.sequence != fb.sequence and sorted(fa.sequence) == sorted(fb.sequence)
    na, nb = len(best_a), len(best_b)
    guards = [0.0 if check(fa, fb) else 1.0 for check in GUARDS.values()]
    return np.asarray(
        [
            float(a.sentence @ b.sentence),
            float(best_a.mean()),
            float(best_b.mean()),
            float(best_a.min()),
            float(best_b.min()),
            _p10(both),
            float((both < _ALIGN).mean()),
            concordant,
            shift,
            1.0 if reordered else 0.0,
            word_jaccard(fa, fb),
            min(na, nb) / max(na, nb),
            math.log1p(na + nb),
            *guards,
        ],
        dtype=np.float32,
    )


def differing_words(fa: Features, fb: Features) -> int:
    """Words in one text and not the other (what the near-copy test counts)."""
    return len(fa.words ^ fb.words)


def word_jaccard(fa: Features, fb: Features) -> float:
    """Shared words over all words (the ``word_jaccard`` feature)."""
    union = len(fa.words | fb.words)
    return len(fa.words & fb.words) / union if union else 1.0


@dataclass(frozen=True, slots=True)
class Regime:
    """Which pairs are near copies (judged by the model); the rest are rewordings."""

    min_jaccard: float
    max_differing: int
    #: what a rewording is judged on: ``"cosine"`` (the sentence vectors alone) or
    #: ``"align"`` (the mean best token match, both ways: needs both texts' token vectors)
    reworded_by: str = "cosine"

    def rewording_score(self, rows: F32) -> F32:
        """The score a rewording's threshold applies to, from ``pair_features`` rows."""
        m = np.asarray(rows, dtype=np.float32)
        if self.reworded_by == "align":
            out: F32 = ((m[:, 1] + m[:, 2]) / 2).astype(np.float32)
            return out
        cosine: F32 = m[:, 0]
        return cosine

    def near_copy(self, rows: F32, differing: npt.NDArray[np.int_]) -> npt.NDArray[np.bool_]:
        jaccard = np.asarray(rows)[:, FEATURE_NAMES.index("word_jaccard")]
        out: npt.NDArray[np.bool_] = (jaccard >= self.min_jaccard) | (
            np.asarray(differing) <= self.max_differing
        )
        return out

    def is_near_copy(self, fa: Features, fb: Features) -> bool:
        """``near_copy`` for one pair, from the texts' words alone (no vectors needed)."""
        # float32 as in the feature row, so both tests agree at the boundary
        jaccard = float(np.float32(word_jaccard(fa, fb)))
        return jaccard >= self.min_jaccard or differing_words(fa, fb) <= self.max_differing


@dataclass(frozen=True, slots=True)
class OperatingPoint:
    """Accept a candidate with cosine >= ``recall``, not vetoed, and then: a near copy
    with verifier probability >= ``accept``, a rewording with cosine >=
    ``accept_reworded`` (``None``: the probability test applies to every pair)."""

    recall: float
    accept: float
    accept_reworded: float | None = None

    def stricter(self, other: OperatingPoint | None) -> OperatingPoint:
        """The stricter of the two, threshold by threshold."""
        if other is None:
            return self
        reworded = None
        if self.accept_reworded is not None or other.accept_reworded is not None:
            reworded = max(
                x for x in (self.accept_reworded, other.accept_reworded) if x is not None
            )
        return OperatingPoint(
            max(self.recall, other.recall), max(self.accept, other.accept), reworded
        )


class Verifier:
    """Probability that a pair is a paraphrase, from ``pair_features`` rows."""

    def __init__(self, spec: dict[str, Any]) -> None:
        try:
            names = tuple(spec["features"])
            if names != FEATURE_NAMES:
                raise VerifierError("verifier weights were trained on other features")
            self.kind: str = spec["kind"]
            self.mean = np.asarray(spec["mean"], dtype=np.float64)
            self.scale = np.asarray(spec["scale"], dtype=np.float64)
            self.layers = [
                (np.asarray(w, dtype=np.float64), np.asarray(b, dtype=np.float64))
                for w, b in spec["layers"]
            ]
            self.recall = float(spec["recall"])
            #: guards kept as hard vetoes: a pair any of them tells apart is never a hit
            self.vetoes: tuple[str, ...] = tuple(spec.get("vetoes", ()))
            unknown = set(self.vetoes) - set(GUARDS)
            if unknown:
                raise VerifierError(f"unknown veto guards {sorted(unknown)}")
            self._veto_columns = [FEATURE_NAMES.index(f"guard_{n}") for n in self.vetoes]
            width = len(FEATURE_NAMES)
            if self.mean.shape != (width,) or self.scale.shape != (width,):
                raise VerifierError("verifier weights: mean/scale do not match the features")
            for w, b in self.layers:
                if w.ndim != 2 or w.shape[0] != width or b.shape != (w.shape[1],):
                    raise VerifierError("verifier weights: layer shapes do not chain")
                width = w.shape[1]
            if width != 1:
                raise VerifierError("verifier weights: the last layer must give one logit")
            regime = spec.get("regime")
            self.regime: Regime | None = (
                None
                if regime is None
                else Regime(
                    float(regime["min_jaccard"]),
                    int(regime["max_differing"]),
                    str(regime.get("reworded_by", "cosine")),
                )
            )
            if self.regime is not None and self.regime.reworded_by not in ("cosine", "align"):
                raise VerifierError(f"unknown rewording score {self.regime.reworded_by!r}")
            # (budget, probability threshold[, rewording cosine threshold]), budgets ascending
            self.calibration: list[tuple[float, ...]] = sorted(
                tuple(float(v) for v in row) for row in spec["calibration"]
            )
            width = 2 if self.regime is None else 3
            if any(len(row) != width for row in self.calibration):
                raise VerifierError(
                    f"verifier weights: calibration rows need {width} values "
                    "(budget, accept" + (", accept_reworded)" if width == 3 else ")")
                )
            self.info: dict[str, Any] = dict(spec.get("info", {}))
            #: the local embedder backend whose vectors it was trained on (None: not recorded)
            self.backend: str | None = spec.get("backend")
            #: ... and the encoder (None: not recorded, i.e. all-MiniLM-L6-v2)
            self.model: str | None = spec.get("model")
        except (KeyError, TypeError, ValueError) as exc:
            raise VerifierError(f"malformed verifier weights: {exc}") from exc
        if self.kind not in ("logistic", "mlp") or not self.layers or not self.calibration:
            raise VerifierError(f"unsupported verifier weights (kind {self.kind!r})")

    def probability(self, rows: F32) -> F64:
        """One probability per row of ``rows`` (shape ``(n, len(FEATURE_NAMES))``)."""
        x = (np.asarray(rows, dtype=np.float64) - self.mean) / self.scale
        for i, (w, b) in enumerate(self.layers):
            x = x @ w + b
            if i < len(self.layers) - 1:
                x = np.maximum(x, 0.0)
        logits = x[:, 0]
        out: F64 = 1.0 / (1.0 + np.exp(-np.clip(logits, -50.0, 50.0)))
        return out

    def vetoed(self, rows: F32) -> npt.NDArray[np.bool_]:
        """Rows that a hard-veto guard rejects, whatever their probability."""
        out: npt.NDArray[np.bool_] = np.zeros(len(rows), dtype=bool)
        for col in self._veto_columns:
            out |= np.asarray(rows)[:, col] > 0.5
        return out

    def vetoes_pair(self, fa: Features, fb: Features) -> bool:
        """``vetoed`` for one pair, from the texts' guard features alone."""
        return any(not GUARDS[name](fa, fb) for name in self.vetoes)

    def needs_model(self, fa: Features, fb: Features, point: OperatingPoint) -> bool:
        """Whether the pair's verdict at ``point`` needs the model's probability (and so
        both texts' token vectors): a near copy does; a rewording judged on cosine not."""
        if self.regime is None or point.accept_reworded is None:
            return True
        return self.regime.reworded_by != "cosine" or self.regime.is_near_copy(fa, fb)

    def accepts(
        self,
        rows: F32,
        differing: npt.NDArray[np.int_],
        point: OperatingPoint,
        probs: F64 | None = None,
    ) -> npt.NDArray[np.bool_]:
        """The verdict at ``point`` for ``pair_features`` rows and their
        ``differing_words`` counts: above the recall floor, not vetoed, and past
        the test of the pair's regime (``probs``: already computed probabilities)."""
        rows = np.asarray(rows)
        cosines = rows[:, 0]
        if probs is None:
            probs = self.probability(rows)
        passed = probs >= point.accept
        if self.regime is not None and point.accept_reworded is not None:
            near = self.regime.near_copy(rows, differing)
            reworded = self.regime.rewording_score(rows) >= point.accept_reworded
            passed = np.where(near, passed, reworded)
        out: npt.NDArray[np.bool_] = (cosines >= point.recall) & passed & ~self.vetoed(rows)
        return out

    def operating_point(self, max_false_hit_rate: float) -> OperatingPoint:
        """The loosest calibrated thresholds whose false-hit rate stays within the budget.

        A budget below every calibrated one gets the strictest thresholds, which
        on the calibration data served nothing wrong.
        """
        row = self.calibration[0]
        for candidate in self.calibration:
            if candidate[0] <= max_false_hit_rate + 1e-12:
                row = candidate
        return OperatingPoint(
            recall=self.recall, accept=row[1], accept_reworded=row[2] if len(row) > 2 else None
        )

    def closed(self) -> OperatingPoint:
        """A point that accepts nothing (a budget stricter than any calibrated one)."""
        reworded = None if self.regime is None else math.inf
        return OperatingPoint(recall=self.recall, accept=math.inf, accept_reworded=reworded)


#: the shipped weights for each local encoder and backend: trained and calibrated on the
#: features that backend's vectors give (int8 vectors are within cosine 0.99 of float32)
SHIPPED = {
    "all-MiniLM-L6-v2": {
        "onnx-int8": "verifier.json",
        "onnx": "verifier-onnx.json",
        "numpy": "verifier-onnx.json",
    },
    "paraphrase-MiniLM-L3-v2": {
        "onnx-int8": "verifier-l3.json",
        "onnx": "verifier-l3-onnx.json",
        "numpy": "verifier-l3-onnx.json",
    },
}


def load_verifier(
    text: str | None = None, *, backend: str = "onnx-int8", model: str = CACHE_ENCODER
) -> Verifier:
    """The shipped verifier for ``model`` run by ``backend`` (JSON in this package), or
    one from ``text``."""
    if text is None:
        shipped = SHIPPED.get(model, SHIPPED[CACHE_ENCODER])
        name = shipped.get(backend, shipped["onnx-int8"])
        text = resources.files("lockgate.cache.semantic").joinpath(name).read_text()
    try:
        spec = json.loads(text)
    except json.JSONDecodeError as exc:
        raise VerifierError(f"verifier weights are not JSON: {exc}") from exc
    if not isinstance(spec, dict):
        raise VerifierError("verifier weights must be a JSON object")
    return Verifier(spec)
