"""Seeded simulator for the experiments' statistics (lockgate.experiments.sequential).

1,000 simulated experiments per scenario, Bernoulli and Gaussian metrics, A/A and a
true effect.  Each run looks at the data every ``--batch`` samples per arm (peeking as
people do) and stops the first time the always-valid interval excludes 0, or at the
cap ``--cap`` x n80 (n80: the fixed-horizon size with 80% power at the planned effect).

Reported per scenario: false-winner rate (A/A: any winner; effect: a winner in the
wrong direction), power, median samples per arm to a decision (runs that never decide
count at the cap), and the fixed-horizon size with the *same* power as the sequential
test, n = (z_{1-a/2} + z_power)^2 (var_a + var_b) / delta^2, whose power is checked on
the same simulated data.  Also the naive "peek at a fixed-horizon z-test" false-positive
rate, to show what always-valid inference buys.

    .venv/bin/python bench/sim_experiments.py [--runs 1000] [--seed 7]
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from lockgate.experiments.sequential import MIN_SAMPLES, p_value


@dataclass(frozen=True)
class Scenario:
    name: str
    kind: str  # bernoulli | gaussian
    a: float  # control mean (p or mu)
    b: float  # variant mean
    planned: float  # the effect the mixture (tau) and n80 are planned for
    sigma: float = 1.0


SCENARIOS = [
    Scenario("bernoulli A/A  p=0.10", "bernoulli", 0.10, 0.10, 0.02),
    Scenario("bernoulli 0.10->0.12", "bernoulli", 0.10, 0.12, 0.02),
    Scenario("gaussian A/A   sd=1", "gaussian", 0.0, 0.0, 0.1),
    Scenario("gaussian +0.1 sd", "gaussian", 0.0, 0.1, 0.1),
    Scenario("gaussian +0.2 sd", "gaussian", 0.0, 0.2, 0.1),
]


def variances(s: Scenario, mean: float) -> float:
    return mean * (1 - mean) if s.kind == "bernoulli" else s.sigma**2


def n_for_power(s: Scenario, effect: float, power: float, alpha: float) -> float:
    za = stats.norm.ppf(1 - alpha / 2)
    zb = stats.norm.ppf(power)
    var = variances(s, s.a) + variances(s, s.a + effect)
    return float((za + zb) ** 2 * var / effect**2)


def arm(rng: np.random.Generator, s: Scenario, mean: float, runs: int, looks: int, batch: int):
    """Cumulative sums and sums of squares at each look, shape (runs, looks)."""
    if s.kind == "bernoulli":
        x = rng.binomial(batch, mean, size=(runs, looks)).astype(float)
        return np.cumsum(x, axis=1), np.cumsum(x, axis=1)
    sums = rng.normal(batch * mean, math.sqrt(batch) * s.sigma, size=(runs, looks))
    within = s.sigma**2 * rng.chisquare(batch - 1, size=(runs, looks))
    sq = within + sums**2 / batch
    return np.cumsum(sums, axis=1), np.cumsum(sq, axis=1)


def simulate(
    s: Scenario, runs: int, batch: int, cap: float, alpha: float, rng: np.random.Generator
):
    n80 = n_for_power(s, s.planned, 0.8, alpha)
    looks = math.ceil(cap * n80 / batch)
    n = batch * np.arange(1, looks + 1, dtype=float)
    sa, qa = arm(rng, s, s.a, runs, looks, batch)
    sb, qb = arm(rng, s, s.b, runs, looks, batch)
    ma, mb = sa / n, sb / n
    va = np.maximum(qa / n - ma**2, 0) * n / np.maximum(n - 1, 1)
    vb = np.maximum(qb / n - mb**2, 0) * n / np.maximum(n - 1, 1)
    v = va / n + vb / n
    d = mb - ma
    pv = p_value(d, v, s.planned**2)
    pv[:, n < MIN_SAMPLES] = 1.0
    stop = pv < alpha
    decided = stop.any(axis=1)
    first = np.where(decided, stop.argmax(axis=1), looks - 1)
    samples = n[first]
    sign = np.sign(d[np.arange(runs), first])
    true_sign = np.sign(s.b - s.a)
    if true_sign == 0:
        false_winner = decided.mean()
        power = float("nan")
    else:
        false_winner = (decided & (sign != true_sign)).mean()
        power = (decided & (sign == true_sign)).mean()
    # naive: a fixed-horizon z-test read at every look
    z = np.abs(d) / np.sqrt(np.maximum(v, 1e-300))
    naive = (z > stats.norm.ppf(1 - alpha / 2)) & (n >= MIN_SAMPLES)
    naive_fp = naive.any(axis=1).mean() if true_sign == 0 else float("nan")
    out = {
        "scenario": s.name,
        "false_winner": false_winner,
        "power": power,
        "median_n": float(np.median(samples)),
        "cap": float(n[-1]),
        "naive_peek_fp": naive_fp,
    }
    if true_sign != 0 and 0 < power < 1:
        nf = n_for_power(s, s.b - s.a, power, alpha)
        k = min(math.ceil(nf / batch), looks) - 1
        zf = np.abs(d[:, k]) / np.sqrt(v[:, k])
        fixed_power = (
            (zf > stats.norm.ppf(1 - alpha / 2)) & (np.sign(d[:, k]) == true_sign)
        ).mean()
        out |= {"fixed_n": nf, "fixed_power": fixed_power, "saving": 1 - out["median_n"] / nf}
    return out


def wilson(p: float, n: int) -> tuple[float, float]:
    lo, hi = stats.binomtest(round(p * n), n).proportion_ci(method="wilson")
    return lo, hi


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--cap", type=float, default=2.5, help="sample cap, in multiples of n80")
    ap.add_argument("--alpha", type=float, default=0.05)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    print(
        f"runs={args.runs} seed={args.seed} alpha={args.alpha} look every {args.batch}/arm,"
        f" cap {args.cap} x n80; tau = planned effect"
    )
    header = (
        "| scenario | false winner [95% CI] | power | median n/arm (seq) | fixed-horizon n/arm"
        " at same power (its power) | saving | naive peeking FP |"
    )
    print(header)
    print("|" + "---|" * 7)
    for s in SCENARIOS:
        r = simulate(s, args.runs, args.batch, args.cap, args.alpha, rng)
        lo, hi = wilson(r["false_winner"], args.runs)
        fw = f"{r['false_winner']:.3f} [{lo:.3f}, {hi:.3f}]"
        power = "-" if math.isnan(r["power"]) else f"{r['power']:.3f}"
        fixed = f"{r['fixed_n']:.0f} ({r['fixed_power']:.3f})" if "fixed_n" in r else "-"
        saving = f"{r['saving']:.0%}" if "saving" in r else "-"
        naive = "-" if math.isnan(r["naive_peek_fp"]) else f"{r['naive_peek_fp']:.3f}"
        print(
            f"| {r['scenario']} | {fw} | {power} | {r['median_n']:.0f} (cap {r['cap']:.0f}) |"
            f" {fixed} | {saving} | {naive} |"
        )


if __name__ == "__main__":
    main()
