"""Train and evaluate lockgate's strong/weak router on RouteLLM's published evaluation
rows (../shared/data/routing-dev.jsonl: MMLU and GSM8K prompts with whether Mixtral-8x7B
(weak) and GPT-4 (strong) answered each correctly).

Every figure is cross-validated and grouped: MMLU folds hold out whole subjects (so a
score reflects topics the router never saw), GSM8K rows are split at random. For each
design it prints, per source, the share of strong calls needed to keep 95% of GPT-4's
accuracy (with a bootstrap 95% interval over prompts), and the curve.

    .venv/bin/python bench/train_router.py --embeddings /tmp/routing_emb.npy          # evaluate
    .venv/bin/python bench/train_router.py --embeddings /tmp/routing_emb.npy --write  # + weights

Embeddings: the local MiniLM (lockgate.cache.semantic), computed once and cached in the
--embeddings file (about 2 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import GroupKFold

from lockgate.routing.features import text_features

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "routing-dev.jsonl"
OUT = Path(__file__).resolve().parents[1] / "src" / "lockgate" / "routing" / "router_weights.npz"
FLOOR = 0.95


def load(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def embed_all(rows: list[dict], cache: Path) -> np.ndarray:
    if cache.exists():
        X = np.load(cache)
        if len(X) == len(rows):
            return X
    from lockgate.cache.semantic.embedder import LocalEmbedder

    emb = LocalEmbedder(threads=1)

    async def run() -> np.ndarray:
        parts = [
            await emb.embed([r["prompt"] for r in rows[i : i + 64]])
            for i in range(0, len(rows), 64)
        ]
        return np.concatenate(parts)

    X = asyncio.run(run())
    np.save(cache, X)
    return X


def accuracy_at(
    order_scores: np.ndarray, weak: np.ndarray, strong: np.ndarray, share: float
) -> float:
    """Accuracy when the top `share` of prompts by score go to the strong model."""
    n = len(order_scores)
    k = round(share * n)
    idx = np.argsort(-order_scores, kind="stable")
    routed_strong = np.zeros(n, dtype=bool)
    routed_strong[idx[:k]] = True
    return float(np.where(routed_strong, strong, weak).mean())


def share_needed(
    scores: np.ndarray, weak: np.ndarray, strong: np.ndarray, floor: float = FLOOR
) -> float:
    """The smallest strong share (1% steps) that keeps `floor` of the strong model's accuracy."""
    target = floor * strong.mean()
    for pct in range(0, 101):
        if accuracy_at(scores, weak, strong, pct / 100) >= target - 1e-12:
            return pct / 100
    return 1.0


def bootstrap_share(scores, weak, strong, rng, n=200) -> tuple[float, float]:
    vals = []
    m = len(scores)
    for _ in range(n):
        i = rng.integers(0, m, m)
        vals.append(share_needed(scores[i], weak[i], strong[i]))
    lo, hi = np.percentile(vals, [2.5, 97.5])
    return float(lo), float(hi)


def features(X: np.ndarray, rows: list[dict]) -> np.ndarray:
    T = np.array([text_features(r["prompt"]) for r in rows], dtype=np.float32)
    return np.hstack([X, T])


def cv_scores(
    design: str, F: np.ndarray, X: np.ndarray, rows, weak, strong, groups, rng
) -> np.ndarray:
    """Out-of-fold scores (higher = send to strong) for one design."""
    out = np.zeros(len(rows))
    if design == "random":
        return rng.random(len(rows))
    if design == "keyword":
        T = np.array([text_features(r["prompt"]) for r in rows])
        # LiteLLM-style complexity: longer prompts, more digits and maths symbols are harder.
        return T[:, 0] + T[:, 2] + T[:, 3]
    for tr, te in GroupKFold(n_splits=5).split(F, groups=groups):
        if design == "logreg_weak_fails":
            m = LogisticRegression(C=0.5, max_iter=2000)
            m.fit(F[tr], ~weak[tr].astype(bool))
            out[te] = m.predict_proba(F[te])[:, 1]
        elif design == "split_logreg":
            # One model for multiple-choice prompts, one for the rest (word problems...).
            mc = F[:, X.shape[1] + 5] > 0.5
            for flag in (True, False):
                trm, tem = tr[mc[tr] == flag], te[mc[te] == flag]
                if len(tem) == 0:
                    continue
                m = LogisticRegression(C=0.5, max_iter=2000).fit(F[trm], ~weak[trm].astype(bool))
                out[tem] = m.predict_proba(F[tem])[:, 1]
        elif design == "ridge_gain":
            m = Ridge(alpha=10.0)
            m.fit(F[tr], strong[tr].astype(float) - weak[tr].astype(float))
            out[te] = m.predict(F[te])
        elif design == "two_logreg":
            ms = LogisticRegression(C=0.5, max_iter=2000).fit(F[tr], strong[tr].astype(bool))
            mw = LogisticRegression(C=0.5, max_iter=2000).fit(F[tr], weak[tr].astype(bool))
            out[te] = ms.predict_proba(F[te])[:, 1] - mw.predict_proba(F[te])[:, 1]
        elif design == "hgb_gain":
            from sklearn.decomposition import PCA
            from sklearn.ensemble import HistGradientBoostingRegressor

            pca = PCA(n_components=32, random_state=0).fit(X[tr])
            Z = np.hstack([pca.transform(X), F[:, X.shape[1] :]])
            m = HistGradientBoostingRegressor(
                max_iter=200, learning_rate=0.05, max_leaf_nodes=15, l2_regularization=1.0
            )
            m.fit(Z[tr], strong[tr] - weak[tr])
            out[te] = m.predict(Z[te])
        elif design == "hgb_weak_fails":
            from sklearn.decomposition import PCA
            from sklearn.ensemble import HistGradientBoostingClassifier

            pca = PCA(n_components=32, random_state=0).fit(X[tr])
            Z = np.hstack([pca.transform(X), F[:, X.shape[1] :]])
            m = HistGradientBoostingClassifier(
                max_iter=200, learning_rate=0.05, max_leaf_nodes=15, l2_regularization=1.0
            )
            m.fit(Z[tr], ~weak[tr].astype(bool))
            out[te] = m.predict_proba(Z[te])[:, 1]
        elif design == "knn":
            Xtr, Xte = X[tr], X[te]
            sims = Xte @ Xtr.T
            k = 32
            nn = np.argpartition(-sims, k, axis=1)[:, :k]
            out[te] = (1.0 - weak[tr][nn].astype(float)).mean(axis=1)
    return out


def write_weights(F, rows, weak, strong, oof: np.ndarray, design: str) -> None:
    """Fit the shipped linear model on every row; calibrate floors on out-of-fold scores."""
    if design == "logreg_weak_fails":
        m = LogisticRegression(C=0.5, max_iter=2000).fit(F, ~weak.astype(bool))
        coef, intercept = m.coef_[0], float(m.intercept_[0])
        # Out-of-fold scores are probabilities; the shipped score is the logit.
        oof = np.log(np.clip(oof, 1e-6, 1 - 1e-6) / np.clip(1 - oof, 1e-6, 1))
    elif design == "ridge_gain":
        m = Ridge(alpha=10.0).fit(F, strong - weak)
        coef, intercept = m.coef_, float(m.intercept_)
    else:
        raise SystemExit(f"--ship must be a linear design, not {design}")
    floors = []
    order = np.sort(oof)
    for floor in np.arange(0.80, 1.0001, 0.01):
        share = share_needed(oof, weak, strong, float(floor))
        k = min(len(order) - 1, max(0, round((1.0 - share) * len(order))))
        floors.append((float(floor), float(order[k]) if share < 1.0 else float("-inf")))
    rng = np.random.default_rng(0)
    prior = np.sort(rng.choice(oof, size=min(2000, len(oof)), replace=False))
    np.savez_compressed(
        OUT,
        coef=np.asarray(coef, dtype=np.float32),
        intercept=np.float32(intercept),
        floors=np.asarray(floors, dtype=np.float32),
        prior_scores=prior.astype(np.float32),
    )
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes), design {design}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--embeddings", default="/tmp/routing_emb.npy")
    ap.add_argument("--write", action="store_true")
    ap.add_argument(
        "--designs",
        default="random,keyword,knn,logreg_weak_fails,ridge_gain,two_logreg,hgb_gain,hgb_weak_fails",
    )
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--ship", default="logreg_weak_fails", help="linear design to ship")
    args = ap.parse_args()
    rows = load(Path(args.data))
    X = embed_all(rows, Path(args.embeddings))
    F = features(X, rows)
    weak = np.array([r["weak_correct"] for r in rows], dtype=float)
    strong = np.array([r["strong_correct"] for r in rows], dtype=float)
    src = np.array([r["source"] for r in rows])
    rng = np.random.default_rng(args.seed)
    # MMLU: one group per subject; GSM8K: 5 random groups.
    groups = np.array(
        [r["subject"] if r["source"] == "mmlu" else f"gsm8k-{rng.integers(5)}" for r in rows]
    )
    designs = args.designs.split(",")
    print(
        f"rows: {len(rows)} (mmlu {int((src == 'mmlu').sum())}, "
        f"gsm8k {int((src == 'gsm8k').sum())}); "
        f"5-fold CV grouped by MMLU subject; keep {FLOOR:.0%} of GPT-4 accuracy"
    )
    print(f"{'design':<20} {'MMLU share (95% CI)':<26} {'GSM8K share (95% CI)':<26}")
    results = {}
    for d in designs:
        s = cv_scores(d, F, X, rows, weak, strong, groups, rng)
        results[d] = s
        cells = []
        for name in ("mmlu", "gsm8k"):
            m = src == name
            sh = share_needed(s[m], weak[m], strong[m])
            lo, hi = bootstrap_share(s[m], weak[m], strong[m], rng)
            cells.append(f"{sh:.2f} ({lo:.2f}-{hi:.2f})")
        print(f"{d:<20} {cells[0]:<26} {cells[1]:<26}")
    if args.write:
        write_weights(F, rows, weak, strong, results[args.ship], args.ship)
    print("\ncurve (share of strong calls -> % of GPT-4 accuracy kept), shipped design vs random:")
    for name in ("mmlu", "gsm8k"):
        m = src == name
        line = [f"{name}:"]
        for share in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8):
            a = accuracy_at(results[args.ship][m], weak[m], strong[m], share) / strong[m].mean()
            r = accuracy_at(results["random"][m], weak[m], strong[m], share) / strong[m].mean()
            line.append(f"{share:.0%}: {a:.1%} (random {r:.1%})")
        print("  ".join(line))


if __name__ == "__main__":
    main()
