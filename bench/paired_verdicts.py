"""Paired comparison of two nested-CV runs of bench/train_verifier.py (same rows, same folds).

    .venv/bin/python bench/paired_verdicts.py A.npz B.npz [--keys auto@0.01,none@0.01]

Reads the ``--verdicts`` files of both runs and prints, per dev source and label, how many
rows each run accepts, how many only one of them does, and the exact McNemar test (a
two-sided binomial test on the discordant rows).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from scipy.stats import binomtest


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("a", type=Path)
    ap.add_argument("b", type=Path)
    ap.add_argument("--keys", default="auto@0.01,none@0.01,0.8@0.01")
    args = ap.parse_args()
    a, b = np.load(args.a), np.load(args.b)
    y, shown = a["y"], a["shown"]
    assert np.array_equal(y, b["y"]) and np.array_equal(shown, b["shown"]), "other rows"
    for key in args.keys.split(","):
        if key not in a.files or key not in b.files:
            print(f"{key}: not in both files")
            continue
        for s in sorted({str(v) for v in shown if v}):
            for label, name in ((1, "hits"), (0, "false hits")):
                m = (shown == s) & (y == label)
                va, vb = a[key][m], b[key][m]
                only_a, only_b = int((va & ~vb).sum()), int((~va & vb).sum())
                p = binomtest(only_a, only_a + only_b).pvalue if only_a + only_b else 1.0
                print(
                    f"{key:12} {s:14} {name:10} A {int(va.sum()):5d} B {int(vb.sum()):5d}"
                    f" of {int(m.sum()):5d}; only A {only_a}, only B {only_b}; McNemar p={p:.3g}"
                )


if __name__ == "__main__":
    main()
