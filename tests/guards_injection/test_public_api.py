"""The package's public surface and the shape of its verdicts."""

from __future__ import annotations

import dataclasses

import pytest

import lockgate.guards.injection as injection
from lockgate.guards.injection import InjectionDetector, InjectionVerdict
from lockgate.guards.injection._model import LinearModel, load_model, parse_model


def test_exported_names_are_public_and_present() -> None:
    """__all__ lists exactly the public names, and each exists."""
    assert sorted(injection.__all__) == [
        "DEFAULT_THRESHOLD",
        "InjectionDetector",
        "InjectionVerdict",
        "STRIPPED_MARKER",
        "primary_reason",
    ]
    for name in injection.__all__:
        assert hasattr(injection, name)


def test_verdict_is_frozen() -> None:
    """Verdicts are immutable values that can be shared and compared."""
    verdict = InjectionVerdict(0.5, True, ("x",))
    with pytest.raises(dataclasses.FrozenInstanceError):
        verdict.score = 0.1  # type: ignore[misc]


def test_weights_file_round_trips() -> None:
    """The shipped weights parse, and serialising them gives the same model back."""
    model = load_model()
    assert len(model.weights) > 1000
    assert parse_model(model.to_json()) == model


def test_unknown_weights_format_is_rejected() -> None:
    """A weights file from a future format fails loudly instead of scoring garbage."""
    payload = load_model().to_json() | {"format": 99}
    with pytest.raises(ValueError, match="format"):
        parse_model(payload)


def test_detector_accepts_an_explicit_model() -> None:
    """A model can be injected, e.g. one trained in the training script."""
    model = LinearModel(bias=-10.0, weights={}, window=1024, stride=768, ref_features=64)
    detector = InjectionDetector(model=model)
    assert detector.score("What is the capital of Peru?").score < 0.001
