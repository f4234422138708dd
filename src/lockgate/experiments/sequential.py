"""Always-valid inference for the difference of two means (pure).

The mixture sequential probability ratio test (mSPRT, Johari, Pekelis & Walsh,
"Always Valid Inference", 2017) with a normal mixing distribution of variance
``tau2`` over the effect.  With ``V = var_a/n_a + var_b/n_b`` and the observed
difference ``d = mean_b - mean_a`` the likelihood ratio against "no difference" is::

    L = sqrt(V / (V + tau2)) * exp(tau2 * d**2 / (2 * V * (V + tau2)))

and ``{delta : |d - delta| <= r}`` with::

    r = sqrt(V * (V + tau2) / tau2 * (2 * log(1/alpha) + log((V + tau2) / V)))

is a confidence sequence: it covers the true difference at *every* look at once
with probability at least ``1 - alpha``, so people may peek as often as they like.

Decision rule (stated once, used by experiments, rollouts' reports and the simulator
in bench/): a variant *wins* (or *loses*) against the control the first time the
interval excludes 0 on the primary metric, i.e. the always-valid p-value
``min(1, 1/L)`` drops below ``alpha``.  Until then the result is "no decision"; an
experiment that reaches its sample cap without a decision ends "no difference".
Variances are plug-in estimates (Bernoulli metrics use p(1-p)), so each arm needs
``MIN_SAMPLES`` before the interval is shown.

Functions accept floats or numpy arrays (the simulator evaluates 1,000 runs at once).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["MIN_SAMPLES", "Interval", "interval", "radius"]

#: samples per arm before an interval is computed (plug-in variances need a few)
MIN_SAMPLES = 30


def radius(v: Any, tau2: float, alpha: float) -> Any:
    """Half-width of the confidence sequence at variance ``v`` of the difference."""
    v = np.maximum(v, 1e-300)
    return np.sqrt(v * (v + tau2) / tau2 * (2.0 * np.log(1.0 / alpha) + np.log((v + tau2) / v)))


def p_value(d: Any, v: Any, tau2: float) -> Any:
    """The always-valid p-value of one look, ``min(1, 1/L)``."""
    v = np.maximum(v, 1e-300)
    log_l = 0.5 * np.log(v / (v + tau2)) + tau2 * d * d / (2.0 * v * (v + tau2))
    return np.minimum(1.0, np.exp(-log_l))


@dataclass(frozen=True, slots=True)
class Interval:
    """Variant minus control, with its always-valid (1 - alpha) interval."""

    difference: float
    low: float
    high: float
    p_value: float
    n_control: int
    n_variant: int

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    def to_json(self) -> dict[str, Any]:
        return {
            "difference": self.difference,
            "low": self.low,
            "high": self.high,
            "p_value": self.p_value,
            "n_control": self.n_control,
            "n_variant": self.n_variant,
        }


def interval(
    mean_a: float,
    var_a: float,
    n_a: int,
    mean_b: float,
    var_b: float,
    n_b: int,
    *,
    tau2: float,
    alpha: float = 0.05,
) -> Interval | None:
    """The confidence sequence for ``mean_b - mean_a``; None below ``MIN_SAMPLES`` per arm."""
    if n_a < MIN_SAMPLES or n_b < MIN_SAMPLES:
        return None
    v = var_a / n_a + var_b / n_b
    d = mean_b - mean_a
    r = float(radius(v, tau2, alpha))
    return Interval(
        difference=d,
        low=d - r,
        high=d + r,
        p_value=float(p_value(d, v, tau2)),
        n_control=n_a,
        n_variant=n_b,
    )
