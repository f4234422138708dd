"""Can the router's GSM8K branch reach <= 65% strong calls at 95% of GPT-4's accuracy on
prompts it was not tuned on?  Repeated 5-fold cross-validation over the 660 GSM8K rows of
../shared/data/routing-dev.jsonl (random folds, ``--draws`` fold assignments), the same
outer folds for every design:

- shipped: the other-branch model as shipped until session 7 (LR on MiniLM + 26 text
  features, label "strong right where weak fails", C 0.5; fitted on GSM8K rows only; the
  branch now ships an ensemble: bench/check_router_ens3.py);
- nested: C in {0.1, 0.2, 0.5, 1.0} and the weight of MMLU rows added to training
  (0 or 0.1) picked by an inner 5-fold CV on the outer training rows only (criterion:
  mean kept quality over strong shares 40-80%), then refitted there;
- gsm-features: the shipped model plus 34 GSM8K-specific text features (quantities and
  number words, sentences, words, cues for rates, comparisons, multiples, percentages,
  totals, remainders, averages, ratios, fractions, conditions, sequence words, money,
  time, distance, mass, speed, geometry, growth; unit kinds, time-unit conversions,
  names, decimals, the largest number, "how many"/"how much", "and" count).

Printed per design: the strong share needed to keep 95% (mean and sd over draws; a
bootstrap 95% CI over prompts on draw 0) and the share of GPT-4's accuracy kept at 65%
strong calls (mean over draws).

    OMP_NUM_THREADS=1 nice -n 19 .venv/bin/python bench/check_router_gsm8k.py   # ~10 min
"""

from __future__ import annotations

import math
import re
import sys
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, str(Path(__file__).parent))
import train_router as tr

_CUES = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"\b(?:each|every|per|a day|a week|an hour|apiece)\b",
        r"\b(?:more|less|fewer|longer|shorter|older|younger|taller|faster|slower|cheaper)"
        r"\b(?:\s+\w+)?\s+than\b",
        r"\b(?:times|twice|double|triple|half|quarter|thrice)\b",
        r"%|\bpercent",
        r"\b(?:total|altogether|in all|combined|sum|together)\b",
        r"\b(?:left|remaining|remainder|rest|remain)\b",
        r"\b(?:average|mean)\b",
        r"\b(?:ratio|proportion|rate)\b",
        r"\d/\d|\b(?:half|third|quarter|fourth|fifth)s?\b",
        r"\b(?:if|assuming|suppose)\b",
        r"\b(?:then|after|before|later|next|until)\b",
        r"\$|\b(?:dollars?|cents?|price|cost|pay|paid|earn|profit|discount|tax|tip|sells?"
        r"|buys?|bought|spent|spend)\b",
        r"\b(?:hours?|minutes?|seconds?|days?|weeks?|months?|years?)\b",
        r"\b(?:miles?|km|kilometers?|feet|foot|inches?|meters?|yards?|mph)\b",
        r"\b(?:pounds?|kg|kilograms?|ounces?|grams?|tons?|gallons?|liters?|cups?|quarts?"
        r"|pints?)\b",
        r"\b(?:speed|per hour|mph|km/h|rate)\b",
        r"\b(?:area|square|perimeter|volume|length|width|height)\b",
        r"\b(?:interest|increase|decrease|grow|growth|raise|markup)\b",
    )
]
_UNIT_CUES = (11, 12, 13, 14)  # money, time, distance, mass
_NUMW = re.compile(
    r"\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty"
    r"|thirty|forty|fifty|hundred|thousand|million|dozen|half|twice|double|triple|quarter"
    r"|third|fourth|fifth)\b",
    re.IGNORECASE,
)
_NUM = re.compile(r"\d+(?:[.,]\d+)*")
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-z]+\b")
_SENT = re.compile(r"[.!?](?:\s|$)")
_TIMEU = re.compile(r"\b(hours?|minutes?|seconds?|days?|weeks?|months?|years?)\b", re.I)


def gsm_features(t: str) -> list[float]:
    nums, numw = _NUM.findall(t), _NUMW.findall(t)
    counts = [len(p.findall(t)) for p in _CUES]
    tunits = {m.lower().rstrip("s") for m in _TIMEU.findall(t)}
    vals = [float(x.replace(",", "")) for x in nums] or [0.0]
    low = t.lower()
    return [
        math.log1p(len(nums)),
        math.log1p(len(numw)),
        math.log1p(len(nums) + len(numw)),
        math.log1p(len(set(nums))),
        math.log1p(len(_SENT.findall(t))),
        math.log1p(len(t.split())),
        *(math.log1p(c) for c in counts),
        sum(counts[i] > 0 for i in _UNIT_CUES),
        float(len(tunits) > 1),
        math.log1p(len(tunits)),
        math.log1p(len(set(_NAME.findall(t)))),
        float(any(v != int(v) for v in vals)),
        math.log1p(max(vals)) / 5,
        float(max(vals) >= 1000),
        float("how many" in low),
        float("how much" in low),
        low.count(" and ") / 5,
    ]


def random_folds(n: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    f = np.random.default_rng(seed).permutation(np.arange(n) % 5)
    return [(np.where(f != k)[0], np.where(f == k)[0]) for k in range(5)]


def mean_kept(s: np.ndarray, weak: np.ndarray, strong: np.ndarray) -> float:
    shares = np.arange(0.4, 0.81, 0.05)
    return float(np.mean([tr.accuracy_at(s, weak, strong, q) for q in shares]) / strong.mean())


def main() -> None:
    ap = tr.parser(draws=20)
    args = ap.parse_args()
    rows, _, F = tr.load_featured(args)
    weak_all = np.array([r["weak_correct"] for r in rows], dtype=float)
    strong_all = np.array([r["strong_correct"] for r in rows], dtype=float)
    gains_all = ((weak_all == 0) & (strong_all == 1)).astype(int)
    src = np.array([r["source"] for r in rows])
    g, mm = np.where(src == "gsm8k")[0], np.where(src == "mmlu")[0]
    weak, strong = weak_all[g], strong_all[g]
    G = np.array([gsm_features(rows[i]["prompt"]) for i in g], dtype=np.float32)
    FG = np.hstack([F[g], G])

    def fit(C: float, wm: float, train: np.ndarray) -> LogisticRegression:
        rows_ = np.concatenate([g[train], mm]) if wm else g[train]
        w = np.concatenate([np.ones(len(train)), np.full(len(mm), wm)]) if wm else None
        return LogisticRegression(C=C, max_iter=3000).fit(
            F[rows_], gains_all[rows_], sample_weight=w
        )

    grid = [(C, wm) for wm in (0.0, 0.1) for C in (0.1, 0.2, 0.5, 1.0)]

    def pick(train: np.ndarray, seed: int) -> tuple[float, float]:
        best: dict[tuple[float, float], float] = {}
        for C, wm in grid:
            s = np.zeros(len(train))
            for a, b in random_folds(len(train), seed):
                s[b] = fit(C, wm, train[a]).decision_function(F[g[train[b]]])
            best[(C, wm)] = mean_kept(s, weak[train], strong[train])
        return max(best, key=lambda k: best[k])

    designs = ("shipped", "nested", "gsm-features")
    need: dict[str, list[float]] = {d: [] for d in designs}
    kept65: dict[str, list[float]] = {d: [] for d in designs}
    first: dict[str, np.ndarray] = {}
    picks: dict[tuple[float, float], int] = {}
    for d in range(args.draws):
        s = {k: np.zeros(len(g)) for k in designs}
        for a, b in random_folds(len(g), 500 + d):
            s["shipped"][b] = fit(tr.C_BRANCH, 0.0, a).decision_function(F[g[b]])
            C, wm = pick(a, 900 + d)
            picks[(C, wm)] = picks.get((C, wm), 0) + 1
            s["nested"][b] = fit(C, wm, a).decision_function(F[g[b]])
            m = LogisticRegression(C=tr.C_BRANCH, max_iter=3000).fit(FG[a], gains_all[g[a]])
            s["gsm-features"][b] = m.decision_function(FG[b])
        for k in designs:
            need[k].append(tr.share_needed(s[k], weak, strong))
            kept65[k].append(tr.accuracy_at(s[k], weak, strong, 0.65) / strong.mean())
            first.setdefault(k, s[k])
        print(f"draw {d}: " + ", ".join(f"{k} {need[k][-1]:.2f}" for k in designs), flush=True)
    rng = np.random.default_rng(0)
    print(f"\nGSM8K n={len(g)}, {args.draws} draws of 5-fold CV; inner picks (C, MMLU weight):")
    print("  " + ", ".join(f"{k}: {v}" for k, v in sorted(picks.items())))
    for k in designs:
        lo, hi = tr.bootstrap_share(first[k], weak, strong, rng, n=500)
        print(
            f"{k:<13} strong share for 95% kept: {np.mean(need[k]):.3f} (sd {np.std(need[k]):.3f};"
            f" draw-0 bootstrap 95% CI {lo:.2f}-{hi:.2f});"
            f" kept at 65% strong: {np.mean(kept65[k]):.4f}"
        )


if __name__ == "__main__":
    main()
