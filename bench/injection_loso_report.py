# ruff: noqa: E501  (report lines)
"""Operating points from the out-of-fold scores that bench/injection_loso.py wrote.

    PYTHONPATH=src .venv/bin/python bench/injection_loso_report.py /tmp/loso.json [DATA_THRESHOLD]

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
    if not np.isnan(s[d]).any():  # a run of the data folds only leaves user turns unscored
        for thr in (0.5, 0.55, 0.6, 0.65):
            print(f"user turn @{thr}: {_boot(y[d], s[d], thr)} n={d.sum()} ({y[d].sum()} attacks)")
        print(f"AUROC user turn {il.auroc(y[d], s[d]):.3f}")
    print(f"AUROC data {il.auroc(y[~d], s[~d]):.3f}")
    # rows of sources never trained on (injection_loso.py --extra) join the data pool
    extra = res.get("extra_rows", [])
    if extra:
        rows = rows + extra
        s = np.concatenate([s, np.asarray(res["extra_scores"])])
        y = np.concatenate([y, [int(r["label"]) for r in extra]])
        src = np.concatenate([src, [str(r["source"]) for r in extra]])
        d = np.concatenate([d, [r["kind"] == "direct" for r in extra]])
    ind = ~d
    real4 = ind & (y == 1) & np.isin(src, list(il.REAL_INDIRECT_S5))
    real6 = ind & (y == 1) & np.isin(src, list(il.REAL_INDIRECT))
    real8 = ind & (y == 1) & np.isin(src, list(il.REAL_INDIRECT | il.NEW_INDIRECT))
    for name, pool in (("session-5 benign pool", S5_BENIGN), ("all benign documents", None)):
        neg = ind & (y == 0) & (np.isin(src, list(pool)) if pool else True)
        thr = il._fpr_threshold(s[neg], 0.05)
        parts = [_recall(s, real4, thr, "real (s5 four)"), _recall(s, real6, thr, "real (six)")]
        parts += [_recall(s, real8, thr, "real (eight)")] if extra else []
        print(f"data, FPR 0.05 on the {name} (n={neg.sum()}): thr {thr:.3f}  " + "  ".join(parts))
    neg = ind & (y == 0)
    for thr in (0.55, 0.57, 0.58, 0.6, 0.65):
        k, n = int((s[neg] >= thr).sum()), int(neg.sum())
        lo, hi = il.wilson(k, n)
        print(
            f"data @{thr}: benign documents flagged {k}/{n}={k / n:.3f} [{lo:.3f},{hi:.3f}]  "
            f"{_recall(s, real6, thr, 'real (six)')}  {_recall(s, real4, thr, 'real (s5 four)')}"
            + (f"  {_recall(s, real8, thr, 'real (eight)')}" if extra else "")
        )
    _per_fold(s, y, src, ind, real6, real8 if extra else None)
    thr = float(sys.argv[2]) if len(sys.argv) > 2 else 0.6
    print(f"per data source @{thr} (Wilson 95%):")
    for g in sorted(set(src[ind])):
        for label, what in ((1, "injected, recall"), (0, "benign, flagged")):
            m = ind & (src == g) & (y == label)
            if m.any():
                print(f"  {g:<16} {what:<17} {_recall(s, m, thr, '')}")


def _per_fold(
    s: np.ndarray,
    y: np.ndarray,
    src: np.ndarray,
    ind: np.ndarray,
    real6: np.ndarray,
    real8: np.ndarray | None,
) -> None:
    """Data thresholds chosen without the held-out source, by two rules on the other
    sources' benign documents: FPR <= 0.05, and FPR's Wilson upper bound <= 0.05."""
    for rule in ("FPR <= 0.05", "Wilson upper <= 0.05"):
        pred = np.zeros(len(s), dtype=bool)
        for g in sorted(set(src[ind])):
            other = s[ind & (src != g) & (y == 0)]
            if rule.startswith("FPR"):
                thr = il._fpr_threshold(other, 0.05)
            else:
                cands = np.sort(np.unique(np.round(other, 3)))
                thr = next(
                    (
                        float(t)
                        for t in cands
                        if il.wilson(int((other >= t).sum()), len(other))[1] <= 0.05
                    ),
                    1.0,
                )
            here = ind & (src == g)
            pred[here] = s[here] >= thr
        neg = ind & (y == 0)
        k, n = int(pred[neg].sum()), int(neg.sum())
        lo, hi = il.wilson(k, n)
        parts = [f"benign flagged {k}/{n}={k / n:.3f} [{lo:.3f},{hi:.3f}]"]
        for name, m in (("real (six)", real6), ("real (eight)", real8)):
            if m is not None:
                kr, nr = int(pred[m].sum()), int(m.sum())
                rl, rh = il.wilson(kr, nr)
                parts.append(f"{name} {kr}/{nr}={kr / nr:.3f} [{rl:.3f},{rh:.3f}]")
        print(f"data, threshold per held-out source ({rule} on the others): " + "  ".join(parts))


if __name__ == "__main__":
    main(Path(sys.argv[1]))  # optional second argument: the data threshold per source
