"""The shipped linear model: a feature -> weight table plus a bias.

Trained offline by ``bench/train_injection.py`` (numpy, logistic regression with the
heuristic logit as a fixed offset, so the model learns what the patterns miss). The
runtime needs only the standard library.
"""

from __future__ import annotations

import gzip
import json
import math
from dataclasses import dataclass
from importlib import resources
from typing import Any

__all__ = ["WEIGHTS_FILE", "LinearModel", "feature_scale", "load_model", "parse_model"]

WEIGHTS_FILE = "weights.json.gz"
_FORMAT = 2


@dataclass(frozen=True, slots=True)
class LinearModel:
    """Logistic-regression weights over string features, and the windowing used in training."""

    bias: float
    weights: dict[str, float]
    window: int
    stride: int
    ref_features: int

    def logit(self, features: set[str], n_features: int | None = None) -> float:
        """Sum the weights of the features present, damped for long windows, plus the bias.

        ``n_features`` is the window's count of word features when ``features`` also
        holds data-channel copies and cues (the damping follows the words alone).
        """
        weights = self.weights
        # Intersect in C first: most features of a window have no weight.
        total = sum([weights[f] for f in features & weights.keys()])
        n = len(features) if n_features is None else n_features
        return self.bias + total * feature_scale(n, self.ref_features)

    def to_json(self) -> dict[str, Any]:
        """Serialise for the weights file."""
        return {
            "format": _FORMAT,
            "bias": self.bias,
            "window": self.window,
            "stride": self.stride,
            "ref_features": self.ref_features,
            "weights": self.weights,
        }


def feature_scale(n_features: int, ref_features: int) -> float:
    """Value of each present feature: 1 up to ``ref_features``, then 1/sqrt-damped.

    Training rows are mostly short prompts; without damping a 1 KB window of ordinary
    prose sums hundreds of small weights and drifts towards either class.
    """
    if n_features <= ref_features:
        return 1.0
    return math.sqrt(ref_features / n_features)


def parse_model(payload: dict[str, Any]) -> LinearModel:
    """Validate and build a model from a decoded weights file."""
    if payload.get("format") != _FORMAT:
        raise ValueError(f"unsupported injection weights format: {payload.get('format')!r}")
    weights = {str(k): float(v) for k, v in payload["weights"].items()}
    return LinearModel(
        bias=float(payload["bias"]),
        weights=weights,
        window=int(payload["window"]),
        stride=int(payload["stride"]),
        ref_features=int(payload["ref_features"]),
    )


def load_model() -> LinearModel:
    """Read the weights file shipped inside this package."""
    raw = resources.files(__package__).joinpath(WEIGHTS_FILE).read_bytes()
    payload: dict[str, Any] = json.loads(gzip.decompress(raw))
    return parse_model(payload)
