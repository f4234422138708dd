"""Bar charts as plain SVG geometry, computed on the server (pure: no I/O, no JS)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Bar", "Chart", "bars"]


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: float


@dataclass(frozen=True, slots=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    peak: float


def bars(points: Sequence[tuple[str, float]], width: int = 720, height: int = 120) -> Chart:
    """One bar per (label, value), scaled so the largest value fills ``height``."""
    peak = max((v for _, v in points), default=0.0)
    step = width / len(points) if points else 0.0
    out = []
    for i, (label, value) in enumerate(points):
        h = height * value / peak if peak > 0 else 0.0
        out.append(Bar(i * step + 1, height - h, max(step - 2, 1.0), h, label, value))
    return Chart(width, height, out, peak)
