# ruff: noqa: E501  (report lines)
"""Operating points from the out-of-fold scores that bench/injection_loso.py wrote.

    PYTHONPATH=src .venv/bin/python bench/injection_loso_report.py /tmp/loso.json

User-turn rows at fixed thresholds (bootstrap 95% CIs, 1,000 resamples); data rows: the
threshold giving benign-document FPR 0.05 on the session-5 pool and on all benign
documents (tuned on these scores: optimistic), and fixed data thresholds, with recall on
the real third-party injected documents (Wilson 95% CIs) and false alarms per source.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import injection_loso as il

S5_BENIGN = {"llmbar", "paws", "agentdojo", "bastion", "garak-latent"}


def _boot(y: np.ndarray, s: np.ndarray, thr: float) -> str:
    p, r, f, fpr = il.prf(y, s, thr)
    rng = np.random.default_rng(19)
    b = np.asarray(
        [il.prf(y[i], s[i], thr) for i in (rng.integers(0, len(y), len(y)) for _ in range(1000))]
    )
    lo, hi = np.percentile(b, 2.5, 0), np.percentile(b, 97.5, 0)
    return f"F1 {f:.3f} [{lo[2]:.3f},{hi[2]:.3f}] P {p:.3f} R {r:.3f} [{lo[1]:.3f},{hi[1]:.3f}] FPR {fpr:.3f} [{lo[3]:.3f},{hi[3]:.3f}]"


def _recall(s: np.ndarray, m: np.ndarray, thr: float, name: str) -> str:
    k, n = int((s[m] >= thr).sum()), int(m.sum())
    lo, hi = il.wilson(k, n)
    return f"{name} {k}/{n}={k / max(1, n):.3f} [{lo:.3f},{hi:.3f}]"


def main(path: Path) -> None:
    rows = il.load_rows()
    res = json.loads(path.read_text())[0]
    s = np.asarray(res["scores"])
    y = np.asarray([int(r["label"]) for r in rows])
    src = np.asarray([str(r["source"]) for r in rows])
    d = np.asarray([r["kind"] == "direct" for r in rows])
    ind = ~d
    for thr in (0.5, 0.55, 0.6, 0.65):
        print(f"user turn @{thr}: {_boot(y[d], s[d], thr)} n={d.sum()} ({y[d].sum()} attacks)")
    print(f"AUROC user turn {il.auroc(y[d], s[d]):.3f}, data {il.auroc(y[ind], s[ind]):.3f}")
    real4 = ind & (y == 1) & np.isin(src, list(il.REAL_INDIRECT_S5))
    real6 = ind & (y == 1) & np.isin(src, list(il.REAL_INDIRECT))
    for name, pool in (("session-5 benign pool", S5_BENIGN), ("all benign documents", None)):
        neg = ind & (y == 0) & (np.isin(src, list(pool)) if pool else True)
        thr = il._fpr_threshold(s[neg], 0.05)
        parts = [_recall(s, real4, thr, "real (s5 four)"), _recall(s, real6, thr, "real (six)")]
        parts += [_recall(s, ind & (y == 1) & (src == g), thr, g) for g in sorted(il.REAL_INDIRECT)]
        print(f"data, FPR 0.05 on the {name} (n={neg.sum()}): thr {thr:.3f}  " + "  ".join(parts))
    neg = ind & (y == 0)
    for thr in (0.55, 0.6, 0.65):
        k, n = int((s[neg] >= thr).sum()), int(neg.sum())
        lo, hi = il.wilson(k, n)
        per = {
            g: f"{int((s[neg & (src == g)] >= thr).sum())}/{int((neg & (src == g)).sum())}"
            for g in sorted(set(src[neg]))
        }
        print(
            f"data @{thr}: benign documents flagged {k}/{n}={k / n:.3f} [{lo:.3f},{hi:.3f}]  "
            f"{_recall(s, real6, thr, 'real (six)')}  {_recall(s, real4, thr, 'real (s5 four)')}  per source {per}"
        )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
