"""Different router designs for GSM8K, each tuned by NESTED cross-validation only.

660 GSM8K rows of ../shared/data/routing-dev.jsonl; ``--draws`` outer 5-fold assignments
(random folds, seeds 500+, the same as bench/check_router_gsm8k.py). Every design's
hyperparameters (and for ``label`` its training label) are picked by an inner 5-fold CV
on the outer training rows only, then refitted there and scored on the outer fold; the
outer fold is never looked at while choosing. Inner criterion: mean share of GPT-4's
accuracy kept over strong shares 50-80% (the region around the target).

Designs (higher score = send to the strong model):
- shipped: the shipped other-branch model (LR on MiniLM + 26 text features, label
  "strong right where weak fails", C 0.5), no tuning (reference);
- gain_ridge: ridge regression on the routing gain strong - weak (-1, 0, 1), alpha tuned;
- label: LR, label picked among "strong wins", "weak fails", their summed logits, and C;
- knn_smooth: kNN label smoothing: each training prompt's label becomes (1 - lam) * its
  own "strong wins" + lam * the mean over its k nearest training prompts (cosine on the
  embedding), then ridge on those soft labels; k and lam tuned;
- ens_knn: rank average of the shipped LR and a kNN score (share of "strong wins" among
  the k nearest training prompts), weight w and k tuned;
- pca_lr: LR on the first d principal components of the embedding (fitted on the
  training rows) + the text features, standardised; d and C tuned;
- mlp: a one-hidden-layer MLP (16 units, L2 alpha tuned, one seed) on PCA-32 + text features;
- hgb: gradient boosting on PCA-16 + text features, depth/leaf settings tuned;
- ens3: rank average (within each outer fold) of shipped, gain_ridge and pca_lr as tuned
  above (needs those three in --designs).

Printed per design: the strong share needed for 95% kept (mean, sd over draws; bootstrap
95% CI over prompts on draw 0), share kept at 65% strong calls, the paired difference to
``shipped`` per draw (mean, and how many draws it is lower/higher), and the inner picks.

    OMP_NUM_THREADS=1 nice -n 19 .venv/bin/python bench/nested_router_gsm8k.py --draws 20
"""

from __future__ import annotations

import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).parent))
import train_router as tr

Scorer = Callable[[np.ndarray, np.ndarray, object], np.ndarray]


def random_folds(n: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    f = np.random.default_rng(seed).permutation(np.arange(n) % 5)
    return [(np.where(f != k)[0], np.where(f == k)[0]) for k in range(5)]


def mean_kept(s: np.ndarray, weak: np.ndarray, strong: np.ndarray) -> float:
    shares = np.arange(0.5, 0.81, 0.05)
    return float(np.mean([tr.accuracy_at(s, weak, strong, q) for q in shares]) / strong.mean())


def rank(s: np.ndarray) -> np.ndarray:
    return np.argsort(np.argsort(s, kind="stable"), kind="stable") / max(1, len(s) - 1)


class Data:
    def __init__(self, F: np.ndarray, X: np.ndarray, weak: np.ndarray, strong: np.ndarray):
        self.F, self.X, self.T = F, X, F[:, X.shape[1] :]
        self.weak, self.strong = weak, strong
        self.gains = ((weak == 0) & (strong == 1)).astype(int)
        self.fails = (weak == 0).astype(int)
        self.gain = strong - weak
        self.sims = X @ X.T


def lr(C: float, Z: np.ndarray, y: np.ndarray) -> LogisticRegression:
    return LogisticRegression(C=C, max_iter=3000).fit(Z, y)


def knn_mean(D: Data, a: np.ndarray, b: np.ndarray, y: np.ndarray, k: int) -> np.ndarray:
    """Mean of y over the k nearest rows of a (never the row itself) for each row of b."""
    sims = D.sims[np.ix_(b, a)].copy()
    sims[b[:, None] == a[None, :]] = -np.inf
    k = min(k, len(a) - 1)
    nn = np.argpartition(-sims, k, axis=1)[:, :k]
    return y[a][nn].mean(axis=1)


def fit_score(design: str, p: tuple, D: Data, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Fit `design` with hyperparameters `p` on rows a; scores for rows b."""
    F = D.F
    if design == "shipped":
        return lr(tr.C_BRANCH, F[a], D.gains[a]).decision_function(F[b])
    if design == "gain_ridge":
        (alpha,) = p
        sc = StandardScaler().fit(F[a])
        return Ridge(alpha=alpha).fit(sc.transform(F[a]), D.gain[a]).predict(sc.transform(F[b]))
    if design == "label":
        lab, C = p
        if lab == "both":
            return sum(lr(C, F[a], y[a]).decision_function(F[b]) for y in (D.gains, D.fails))
        y = D.gains if lab == "wins" else D.fails
        return lr(C, F[a], y[a]).decision_function(F[b])
    if design == "knn_smooth":
        k, lam, alpha = p
        soft = (1 - lam) * D.gains[a] + lam * knn_mean(D, a, a, D.gains.astype(float), k)
        sc = StandardScaler().fit(F[a])
        return Ridge(alpha=alpha).fit(sc.transform(F[a]), soft).predict(sc.transform(F[b]))
    if design == "ens_knn":
        w, k = p
        s_lr = lr(tr.C_BRANCH, F[a], D.gains[a]).decision_function(F[b])
        s_knn = knn_mean(D, a, b, D.gains.astype(float), k)
        return (1 - w) * rank(s_lr) + w * rank(s_knn)
    if design in ("pca_lr", "mlp", "hgb"):
        d = {"pca_lr": p[0], "mlp": 32, "hgb": 16}[design]
        pca = PCA(n_components=d, random_state=0).fit(D.X[a])
        Z = np.hstack([pca.transform(D.X), D.T])
        sc = StandardScaler().fit(Z[a])
        Za, Zb = sc.transform(Z[a]), sc.transform(Z[b])
        if design == "pca_lr":
            return lr(p[1], Za, D.gains[a]).decision_function(Zb)
        if design == "mlp":
            from sklearn.neural_network import MLPClassifier

            (alpha,) = p
            m = MLPClassifier(
                hidden_layer_sizes=(16,), alpha=alpha, max_iter=300, random_state=0
            ).fit(Za, D.gains[a])
            return m.predict_proba(Zb)[:, 1]
        from sklearn.ensemble import HistGradientBoostingClassifier

        leaves, minleaf = p
        m = HistGradientBoostingClassifier(
            max_iter=100,
            learning_rate=0.05,
            max_leaf_nodes=leaves,
            min_samples_leaf=minleaf,
            l2_regularization=1.0,
            random_state=0,
        ).fit(Za, D.gains[a])
        return m.predict_proba(Zb)[:, 1]
    raise ValueError(design)


GRIDS: dict[str, list[tuple]] = {
    "shipped": [()],
    "gain_ridge": [(a,) for a in (30.0, 100.0, 300.0, 1000.0)],
    "label": [(lab, C) for lab in ("wins", "fails", "both") for C in (0.2, 0.5)],
    "knn_smooth": [(k, lam, 300.0) for k in (10, 30) for lam in (0.3, 0.6)],
    "ens_knn": [(w, k) for w in (0.2, 0.4) for k in (30, 100)],
    "pca_lr": [(d, C) for d in (16, 64) for C in (0.1, 1.0)],
    "mlp": [(a,) for a in (1.0, 10.0)],
    "hgb": [(leaves, ml) for leaves in (4, 8) for ml in (20, 60)],
}


#: rank average of three linear designs (each with its own inner-CV picks; no weights tuned)
ENSEMBLE, MEMBERS = "ens3", ("shipped", "gain_ridge", "pca_lr")
GRIDS[ENSEMBLE] = [()]


def pick(design: str, D: Data, train: np.ndarray, seed: int) -> tuple:
    grid = GRIDS[design]
    if len(grid) == 1:
        return grid[0]
    best: dict[tuple, float] = {}
    for p in grid:
        s = np.zeros(len(train))
        for a, b in random_folds(len(train), seed):
            s[b] = fit_score(design, p, D, train[a], train[b])
        best[p] = mean_kept(s, D.weak[train], D.strong[train])
    return max(best, key=lambda k: best[k])


def main() -> None:
    warnings.filterwarnings("ignore", module="sklearn")
    ap = tr.parser(draws=20)
    ap.add_argument("--designs", default=",".join(GRIDS))
    args = ap.parse_args()
    rows, X, F = tr.load_featured(args)
    src = np.array([r["source"] for r in rows])
    g = np.where(src == "gsm8k")[0]
    weak = np.array([rows[i]["weak_correct"] for i in g], dtype=float)
    strong = np.array([rows[i]["strong_correct"] for i in g], dtype=float)
    D = Data(F[g].astype(np.float64), X[g].astype(np.float64), weak, strong)
    designs = args.designs.split(",")
    need: dict[str, list[float]] = {d: [] for d in designs}
    kept65: dict[str, list[float]] = {d: [] for d in designs}
    first: dict[str, np.ndarray] = {}
    picks: dict[str, Counter] = {d: Counter() for d in designs}
    t0 = time.monotonic()
    for d in range(args.draws):
        s = {k: np.zeros(len(g)) for k in designs}
        for a, b in random_folds(len(g), 500 + d):
            for k in designs:
                if k == ENSEMBLE:
                    continue
                p = pick(k, D, a, 900 + d)
                picks[k][p] += 1
                s[k][b] = fit_score(k, p, D, a, b)
            if ENSEMBLE in designs:  # its members as tuned above, ranked within the fold
                s[ENSEMBLE][b] = sum(rank(s[m][b]) for m in MEMBERS)
        for k in designs:
            need[k].append(tr.share_needed(s[k], weak, strong))
            kept65[k].append(tr.accuracy_at(s[k], weak, strong, 0.65) / strong.mean())
            first.setdefault(k, s[k])
        print(
            f"draw {d} ({time.monotonic() - t0:.0f}s): "
            + ", ".join(f"{k} {need[k][-1]:.2f}" for k in designs),
            flush=True,
        )
    rng = np.random.default_rng(0)
    print(f"\nGSM8K n={len(g)}, {args.draws} draws of nested 5-fold CV (inner 5-fold)")
    base = np.array(need.get("shipped", need[designs[0]]))
    for k in designs:
        lo, hi = tr.bootstrap_share(first[k], weak, strong, rng, n=500)
        diff = np.array(need[k]) - base
        print(
            f"{k:<11} share for 95% kept {np.mean(need[k]):.3f} (sd {np.std(need[k]):.3f};"
            f" draw-0 CI {lo:.2f}-{hi:.2f}); kept at 65% {np.mean(kept65[k]):.4f};"
            f" vs shipped {diff.mean():+.3f} (lower in {int((diff < 0).sum())},"
            f" higher in {int((diff > 0).sum())} draws)"
        )
        if len(GRIDS[k]) > 1:
            print("            picks: " + ", ".join(f"{p}: {c}" for p, c in picks[k].most_common()))


if __name__ == "__main__":
    main()
