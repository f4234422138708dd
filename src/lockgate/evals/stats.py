"""The statistics of evaluation (pure; randomness passed in as a numpy Generator).

- ``wilson``: a binomial proportion's 95% interval;
- ``mcnemar_exact``: the exact McNemar test on paired pass/fail (a two-sided binomial
  test on the discordant pairs, scipy's ``binomtest``);
- ``paired_bootstrap``: the mean of paired differences with a percentile interval;
- ``cohen_kappa`` and ``bootstrap_ci`` for judge calibration.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "Interval",
    "McNemar",
    "bootstrap_ci",
    "cohen_kappa",
    "mcnemar_exact",
    "paired_bootstrap",
    "wilson",
]

Z95 = 1.959963984540054


@dataclass(frozen=True, slots=True)
class Interval:
    estimate: float
    low: float
    high: float
    n: int

    def to_json(self) -> dict[str, float | int]:
        return {"estimate": self.estimate, "low": self.low, "high": self.high, "n": self.n}

    def __str__(self) -> str:
        return f"{self.estimate:.3f} [{self.low:.3f}, {self.high:.3f}] (n={self.n})"


def wilson(successes: int, n: int, z: float = Z95) -> Interval:
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half), n)


@dataclass(frozen=True, slots=True)
class McNemar:
    #: baseline passed, candidate failed
    lost: int
    #: baseline failed, candidate passed
    gained: int
    p_value: float


def mcnemar_exact(lost: int, gained: int) -> McNemar:
    """Exact two-sided McNemar test on the discordant pairs."""
    from scipy.stats import binomtest

    n = lost + gained
    p = 1.0 if n == 0 else float(binomtest(gained, n, 0.5, alternative="two-sided").pvalue)
    return McNemar(lost, gained, p)


def paired_bootstrap(
    diffs: Sequence[float], rng: np.random.Generator, *, resamples: int = 2000, level: float = 0.95
) -> Interval:
    """Mean paired difference with a percentile bootstrap interval (resampling pairs)."""
    d = np.asarray(diffs, dtype=float)
    n = len(d)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    idx = rng.integers(0, n, size=(resamples, n))
    means = d[idx].mean(axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return Interval(float(d.mean()), float(low), float(high), n)


def cohen_kappa(a: Sequence[int], b: Sequence[int]) -> float:
    """Cohen's kappa of two raters' labels over the same items (nan if undefined)."""
    x, y = np.asarray(a), np.asarray(b)
    n = len(x)
    if n == 0:
        return math.nan
    labels = np.union1d(x, y)
    po = float(np.mean(x == y))
    pe = float(sum(np.mean(x == k) * np.mean(y == k) for k in labels))
    if pe >= 1.0:
        return 1.0 if po >= 1.0 else math.nan
    return (po - pe) / (1 - pe)


def bootstrap_ci(
    n: int,
    statistic: Callable[[npt.NDArray[np.int64]], float],
    rng: np.random.Generator,
    *,
    resamples: int = 2000,
    level: float = 0.95,
) -> Interval:
    """``statistic(indices)`` on the whole sample, with a percentile interval over resamples."""
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    full = statistic(np.arange(n))
    values = np.array([statistic(rng.integers(0, n, size=n)) for _ in range(resamples)])
    values = values[~np.isnan(values)]
    if len(values) == 0:
        return Interval(full, math.nan, math.nan, n)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return Interval(float(full), float(low), float(high), n)
