"""The shipped linear model: a feature -> weight table plus a bias.

Trained offline by ``bench/train_injection.py`` (numpy, logistic regression with the
heuristic logit as a fixed offset, so the model learns what the patterns miss). The
runtime needs only the standard library.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

__all__ = ["WEIGHTS_FILE", "LinearModel", "load_model", "parse_model"]

WEIGHTS_FILE = "weights.json.gz"
_FORMAT = 1


@dataclass(frozen=True, slots=True)
class LinearModel:
    """Logistic-regression weights over string features, and the windowing used in training."""

    bias: float
    weights: dict[str, float]
    window: int
    stride: int

    def logit(self, features: set[str]) -> float:
        """Sum the weights of the features present, plus the bias."""
        weights = self.weights
        # Intersect in C first: most features of a window have no weight.
        return self.bias + sum([weights[f] for f in features & weights.keys()])

    def to_json(self) -> dict[str, Any]:
        """Serialise for the weights file."""
        return {
            "format": _FORMAT,
            "bias": self.bias,
            "window": self.window,
            "stride": self.stride,
            "weights": self.weights,
        }


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
    )


def load_model() -> LinearModel:
    """Read the weights file shipped inside this package."""
    raw = resources.files(__package__).joinpath(WEIGHTS_FILE).read_bytes()
    payload: dict[str, Any] = json.loads(gzip.decompress(raw))
    return parse_model(payload)
