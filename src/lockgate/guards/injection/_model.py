"""The shipped linear model: a feature -> weight table plus a bias.

Trained offline by ``bench/train_injection.py`` (numpy, logistic regression with the
heuristic logit as a fixed offset, so the model learns what the patterns miss). The
runtime needs only the standard library.
"""

from __future__ import annotations

import gzip
import json
import math
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

__all__ = [
    "WEIGHTS_FILE",
    "LinearModel",
    "feature_scale",
    "load_model",
    "make_model",
    "parse_model",
]

WEIGHTS_FILE = "weights.json.gz"
_FORMAT = 2


@dataclass(frozen=True, slots=True)
class LinearModel:
    """Logistic-regression weights over string features, and the windowing used in training.

    ``weights`` holds the word features every text is scored with; ``data_weights`` what
    a word weighs when it sits in data - its shared weight plus the file's ``d:<feature>``
    entry, summed once here so a data piece costs one lookup per feature - and the data
    cues (``c:...``).
    """

    bias: float
    weights: dict[str, float]
    window: int
    stride: int
    ref_features: int
    data_weights: dict[str, float] = field(default_factory=dict)

    def logit(self, features: set[str], n_features: int | None = None) -> float:
        """Sum the weights of the features present, damped for long windows, plus the bias.

        ``n_features`` overrides the count the damping follows.
        """
        weights = self.weights
        # Intersect in C first: most features of a window have no weight.
        total = sum([weights[f] for f in features & weights.keys()])
        n = len(features) if n_features is None else n_features
        return self.bias + total * feature_scale(n, self.ref_features)

    def data_logit(self, features: set[str], cues: list[str]) -> float:
        """``logit`` of a data piece: the words' data-channel weights plus its cues.

        A model without data-channel entries scores data like any other text.
        """
        if not self.data_weights:
            return self.logit(features)
        data = self.data_weights
        total = sum([data[f] for f in features & data.keys()])
        total += sum([data[c] for c in cues if c in data])
        return self.bias + total * feature_scale(len(features), self.ref_features)

    def to_json(self) -> dict[str, Any]:
        """Serialise for the weights file (data-channel words under their ``d:`` prefix)."""
        merged: dict[str, float] = dict(self.weights)
        for key, value in self.data_weights.items():
            if key.startswith(_CUE_PREFIX):
                merged[key] = value
                continue
            extra = round(value - self.weights.get(key, 0.0), 4)
            if extra:
                merged[_DATA_PREFIX + key] = extra
        return {
            "format": _FORMAT,
            "bias": self.bias,
            "window": self.window,
            "stride": self.stride,
            "ref_features": self.ref_features,
            "weights": merged,
        }


_DATA_PREFIX = "d:"
_CUE_PREFIX = "c:"


def make_model(
    bias: float, weights: dict[str, float], window: int, stride: int, ref_features: int
) -> LinearModel:
    """A model from one flat feature table, the data-channel entries split off.

    Equal weights share one float object: the shipped ~89k entries hold ~5k distinct
    values (rounded to 4 decimals), so this keeps ~2 MiB less resident for the process's
    lifetime.
    """
    values: dict[float, float] = {}
    shared: dict[str, float] = {}
    extra: dict[str, float] = {}
    for key, value in weights.items():
        value = values.setdefault(value, value)
        if key.startswith(_DATA_PREFIX):
            extra[key[len(_DATA_PREFIX) :]] = value
        elif key.startswith(_CUE_PREFIX):
            extra[key] = value
        else:
            shared[key] = value
    data = dict(shared) if extra else {}
    for key, value in extra.items():
        total = data.get(key, 0.0) + value
        data[key] = values.setdefault(total, total)
    return LinearModel(bias, shared, window, stride, ref_features, data)


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
    return make_model(
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
