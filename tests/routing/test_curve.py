"""The routing curve's pure core on hand-made samples."""

from __future__ import annotations

import numpy as np
import pytest

from lockgate.routing.curve import routing_curve


def test_a_perfect_score_keeps_everything_once_the_gains_go_strong() -> None:
    """Four prompts only the strong model answers score highest: 40% strong keeps all;
    the threshold routes exactly those four; random routing keeps less."""
    weak = np.array([False] * 4 + [True] * 6)
    strong = np.array([True] * 10)
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.1, 0.2, 0.3, 0.05, 0.0, 0.15])
    c = routing_curve(scores, weak, strong, np.random.default_rng(0), floor=1.0, boots=50)
    assert c.share_needed == 0.4
    assert (scores > c.threshold).sum() == 4
    at = {p.share: p for p in c.points}
    assert at[0.4].kept == 1.0 and at[0.2].kept == pytest.approx(0.8)
    assert at[0.2].random == pytest.approx(0.68)
    assert at[1.0].kept == 1.0


def test_a_reversed_score_needs_every_strong_call() -> None:
    weak = np.array([False] * 4 + [True] * 6)
    strong = np.array([True] * 10)
    scores = np.arange(10, dtype=float)  # the four gains score lowest
    c = routing_curve(scores, weak, strong, np.random.default_rng(0), floor=1.0, boots=50)
    assert c.share_needed == 1.0
    assert c.points[0].kept == pytest.approx(0.6)


def test_mismatched_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="one length"):
        routing_curve(np.zeros(3), np.zeros(2, bool), np.zeros(3, bool), np.random.default_rng(0))
