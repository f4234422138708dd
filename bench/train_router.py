"""Train and evaluate lockgate's strong/weak router on RouteLLM's published evaluation
rows (../shared/data/routing-dev.jsonl: MMLU and GSM8K prompts with whether Mixtral-8x7B
(weak) and GPT-4 (strong) answered each correctly).

Every figure is cross-validated and grouped: MMLU folds hold out whole subjects (so a
score reflects topics the router never saw), GSM8K rows are split at random. For each
design it prints, per source, the share of strong calls needed to keep 95% of GPT-4's
accuracy: the mean (sd) over --draws fold assignments and a bootstrap 95% interval over
prompts; then the shipped design's curve with intervals, against random routing.

    nice -n 10 .venv/bin/python bench/train_router.py            # evaluate (~1 minute)
    nice -n 10 .venv/bin/python bench/train_router.py --write    # + the shipped weights

Embeddings: the local MiniLM (lockgate.cache.semantic) of each prompt's last 1,000
characters (what the gateway embeds), computed once and cached in the --embeddings file
(about 5 minutes on one core).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

from lockgate.routing.features import text_features
from lockgate.routing.model import embedding_text, quality_loss

DATA = next(
    (
        p / "shared" / "data" / "routing-dev.jsonl"
        for p in Path(__file__).resolve().parents
        if (p / "shared" / "data" / "routing-dev.jsonl").exists()
    ),
    Path("../shared/data/routing-dev.jsonl"),
)
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
            await emb.embed([embedding_text(r["prompt"]) for r in rows[i : i + 64]])
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


def parser(draws: int) -> argparse.ArgumentParser:
    """The arguments every router script shares: the data, its embedding cache, the draws."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--embeddings", default="/tmp/routing_emb_tail.npy")
    ap.add_argument("--draws", type=int, default=draws, help="fold assignments to average over")
    return ap


def load_featured(args: argparse.Namespace) -> tuple[list[dict], np.ndarray, np.ndarray]:
    """The rows of ``args.data``, their embeddings (cached) and their feature matrix."""
    rows = load(Path(args.data))
    X = embed_all(rows, Path(args.embeddings))
    return rows, X, features(X, rows)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def branch_labels(weak: np.ndarray, strong: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The two targets: the weak model fails; the strong model is right where the weak fails."""
    fails = ~weak.astype(bool)
    return fails.astype(int), (fails & strong.astype(bool)).astype(int)


def fit_branch(F: np.ndarray, weak: np.ndarray, strong: np.ndarray, mc: bool):
    """(coef, intercept) of one branch of the shipped model: multiple choice sums the logits
    of "weak fails" and "strong wins", the other branch uses "strong wins" alone."""
    fails, gains = branch_labels(weak, strong)
    targets = [fails, gains] if mc else [gains]
    coef, intercept = np.zeros(F.shape[1]), 0.0
    for y in targets:
        m = LogisticRegression(C=C_BRANCH, max_iter=3000).fit(F, y)
        coef, intercept = coef + m.coef_[0], intercept + float(m.intercept_[0])
    return coef, intercept


def fit_gain_ridge(F: np.ndarray, weak: np.ndarray, strong: np.ndarray, alpha: float):
    """Ridge regression on the routing gain (strong - weak) over standardised features,
    folded into one linear function of the raw features: (coef, intercept)."""
    from sklearn.linear_model import Ridge
    from sklearn.preprocessing import StandardScaler

    sc = StandardScaler().fit(F)
    m = Ridge(alpha=alpha).fit(sc.transform(F), strong - weak)
    coef = m.coef_ / sc.scale_
    return coef, float(m.intercept_ - np.dot(coef, sc.mean_))


def fit_pca_lr(F: np.ndarray, nx: int, gains: np.ndarray, d: int, C: float):
    """LR on the first d principal components of the embedding plus the text features,
    standardised, folded into one linear function of the raw features."""
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    pca = PCA(n_components=d, random_state=0).fit(F[:, :nx])
    Z = np.hstack([pca.transform(F[:, :nx]), F[:, nx:]])
    sc = StandardScaler().fit(Z)
    m = LogisticRegression(C=C, max_iter=3000).fit(sc.transform(Z), gains)
    w = m.coef_[0] / sc.scale_
    b = float(m.intercept_[0] - np.dot(w, sc.mean_))
    coef = np.concatenate([pca.components_.T @ w[:d], w[d:]])
    return coef, float(b - np.dot(pca.mean_ @ pca.components_.T, w[:d]))


C_BRANCH = 0.5
#: the other branch's design: "lr" (one LR, label "strong wins") or "ens3" (rank average
#: of that LR, ridge on the gain and PCA+LR; bench/nested_router_gsm8k.py)
OTHER = "lr"
ALPHAS = (30.0, 100.0, 300.0, 1000.0)
PCA_GRID = tuple((d, C) for d in (16, 64) for C in (0.1, 1.0))


def _random_folds(n: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    f = np.random.default_rng(seed).permutation(np.arange(n) % 5)
    return [(np.where(f != k)[0], np.where(f == k)[0]) for k in range(5)]


def _mean_kept(s: np.ndarray, weak: np.ndarray, strong: np.ndarray) -> float:
    shares = np.arange(0.5, 0.81, 0.05)
    return float(np.mean([accuracy_at(s, weak, strong, q) for q in shares]) / strong.mean())


def ens3_members(F: np.ndarray, nx: int, weak: np.ndarray, strong: np.ndarray, seed: int = 0):
    """The ens3 members for these rows, hyperparameters picked by 5-fold CV on them (the
    criterion and grids of bench/nested_router_gsm8k.py): a list of (coef, intercept,
    out-of-fold scores)."""
    gains = ((weak == 0) & (strong == 1)).astype(int)
    folds = _random_folds(len(F), seed)

    def oof(fit) -> np.ndarray:
        out = np.zeros(len(F))
        for a, b in folds:
            coef, icpt = fit(a)
            out[b] = F[b] @ coef + icpt
        return out

    def best(fits: dict) -> tuple:
        scored = {k: _mean_kept(oof(f), weak, strong) for k, f in fits.items()}
        k = max(scored, key=lambda key: scored[key])
        print(f"  picked {k} (inner mean kept {scored[k]:.4f})")
        return k

    def lr(a):
        m = LogisticRegression(C=C_BRANCH, max_iter=3000).fit(F[a], gains[a])
        return m.coef_[0], float(m.intercept_[0])

    alpha = best(
        {al: (lambda a, al=al: fit_gain_ridge(F[a], weak[a], strong[a], al)) for al in ALPHAS}
    )
    d, C = best(
        {(d, C): (lambda a, d=d, C=C: fit_pca_lr(F[a], nx, gains[a], d, C)) for d, C in PCA_GRID}
    )
    all_rows = np.arange(len(F))
    fits = [
        lr,
        lambda a: fit_gain_ridge(F[a], weak[a], strong[a], alpha),
        lambda a: fit_pca_lr(F[a], nx, gains[a], d, C),
    ]
    return [(*fit(all_rows), oof(fit)) for fit in fits]


KNOTS = 21  # the quality-loss curve at every 5th percentile (GSM8K: ~33 prompts a step)
DESIGNS = "random,keyword,knn,logreg_weak_fails,hgb_branch,branch_lr,branch_lr+knn"


def cv_scores(
    design: str, F: np.ndarray, X: np.ndarray, rows, weak, strong, folds, rng
) -> np.ndarray:
    """Out-of-fold scores (higher = send to strong) for one design."""
    out = np.zeros(len(rows))
    nx = X.shape[1]
    mc = F[:, nx + 5] > 0.5
    fails, gains = branch_labels(weak, strong)
    if design == "random":
        return rng.random(len(rows))
    if design == "keyword":
        T = F[:, nx:]
        # LiteLLM-style complexity: longer prompts, more digits and maths symbols are harder.
        return T[:, 0] + T[:, 2] + T[:, 3]
    if design == "branch_lr+knn":
        a = cv_scores("branch_lr", F, X, rows, weak, strong, folds, rng)
        b = cv_scores("knn", F, X, rows, weak, strong, folds, rng)
        return _rank(a) + _rank(b)
    for tr, te in folds:
        if design == "logreg_weak_fails":  # session 1's shipped model: one LR, 8 features
            F8 = F[:, : nx + 8]
            m = LogisticRegression(C=0.5, max_iter=2000).fit(F8[tr], fails[tr])
            out[te] = m.predict_proba(F8[te])[:, 1]
        elif design == "knn":  # share of "strong wins" among the 100 nearest training prompts
            k = 100
            sims = X[te] @ X[tr].T
            nn = np.argpartition(-sims, k, axis=1)[:, :k]
            out[te] = gains[tr][nn].mean(axis=1)
        elif design in ("branch_lr", "hgb_branch"):
            for flag in (True, False):
                trm, tem = tr[mc[tr] == flag], te[mc[te] == flag]
                if len(tem) == 0:
                    continue
                if design == "branch_lr":
                    coef, b = fit_branch(F[trm], weak[trm], strong[trm], flag)
                    out[tem] = F[tem] @ coef + b
                else:
                    from sklearn.decomposition import PCA
                    from sklearn.ensemble import HistGradientBoostingClassifier

                    pca = PCA(n_components=16, random_state=0).fit(X[trm])
                    Z = np.hstack([pca.transform(X), F[:, nx:]])
                    y = fails if flag else gains
                    m = HistGradientBoostingClassifier(
                        max_iter=150,
                        learning_rate=0.05,
                        max_leaf_nodes=8,
                        l2_regularization=1.0,
                        min_samples_leaf=40,
                    ).fit(Z[trm], y[trm])
                    out[tem] = m.predict_proba(Z[tem])[:, 1]
    return out


def _rank(s: np.ndarray) -> np.ndarray:
    return np.argsort(np.argsort(s, kind="stable"), kind="stable") / len(s)


def make_folds(rows: list[dict], seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """5 folds: MMLU subjects dealt to folds in a seeded order (a fold holds out whole
    subjects), GSM8K rows dealt at random."""
    g = np.random.default_rng(seed)
    subjects = sorted({r["subject"] for r in rows if r["source"] == "mmlu"})
    fold_of = {s: i % 5 for i, s in enumerate(g.permutation(subjects))}
    fold = np.array(
        [fold_of[r["subject"]] if r["source"] == "mmlu" else int(g.integers(5)) for r in rows]
    )
    return [(np.where(fold != k)[0], np.where(fold == k)[0]) for k in range(5)]


def percentile_knots(raw: np.ndarray, n: int = 101) -> np.ndarray:
    """Raw scores at n evenly spaced percentiles, strictly increasing (for np.interp)."""
    knots = np.percentile(raw, np.linspace(0, 100, n))
    for i in range(1, n):
        knots[i] = max(knots[i], knots[i - 1] + 1e-6)
    return knots


def loss_curve(pct: np.ndarray, weak: np.ndarray, strong: np.ndarray, n: int) -> np.ndarray:
    """Share of the strong model's accuracy lost when prompts above each of n evenly
    spaced percentiles go strong (the rest weak); made increasing, strictly."""
    grid = np.linspace(0.0, 1.0, n)
    acc = np.array([np.where(pct > g, strong, weak).mean() for g in grid])
    loss = 1.0 - acc / strong.mean()
    for i in range(1, n):  # at least 0.0001 per step: distinct prompts keep distinct scores
        loss[i] = max(loss[i], loss[i - 1] + 1e-4)
    return loss


def write_weights(F, X, rows, weak, strong, oof: np.ndarray, other: str = OTHER) -> None:
    """Fit the shipped two-branch model on every row; per branch, map raw scores to
    percentiles of its out-of-fold scores and those to the quality lost there."""
    mc = F[:, X.shape[1] + 5] > 0.5
    coefs, intercepts, knots, losses = [], [], [], []
    scaled = np.zeros(len(oof))
    members: dict[str, list] = {"member_coef": [], "member_intercept": [], "member_knots": []}
    if other == "ens3":
        m = ~mc
        grid = np.linspace(0.0, 1.0, KNOTS)
        total = np.zeros(int(m.sum()))
        for coef, b, member_oof in ens3_members(F[m], X.shape[1], weak[m], strong[m]):
            k = percentile_knots(member_oof, n=KNOTS)
            members["member_coef"].append(coef)
            members["member_intercept"].append(b)
            members["member_knots"].append(k)
            total += [quality_loss(k.astype(np.float32), grid, r) for r in member_oof]
        oof = oof.copy()
        oof[m] = total
    for flag in (True, False):
        m = mc == flag
        coef, b = fit_branch(F[m], weak[m], strong[m], flag)
        coefs.append(coef)
        intercepts.append(b)
        k = percentile_knots(oof[m], n=KNOTS)
        pct = np.interp(oof[m], k, np.linspace(0.0, 1.0, len(k)))
        loss = loss_curve(pct, weak[m], strong[m], len(k))
        knots.append(k)
        losses.append(loss)
        scaled[m] = np.interp(oof[m], k, loss)
    for floor in (0.90, 0.95, 0.98):
        line = []
        for flag, name in ((True, "multiple choice"), (False, "other")):
            m = mc == flag
            routed = scaled[m] > 1.0 - floor
            kept = np.where(routed, strong[m], weak[m]).mean() / strong[m].mean()
            line.append(f"{name}: {routed.mean():.1%} strong, {kept:.1%} kept")
        print(
            f"threshold {1 - floor:.2f} (quality_floor {floor}) on the training rows: "
            + "; ".join(line)
        )
    rng = np.random.default_rng(0)
    prior = np.sort(rng.choice(scaled, size=min(2000, len(scaled)), replace=False))
    extra = {}
    if members["member_coef"]:
        extra = {k: np.asarray(v, dtype=np.float32) for k, v in members.items()}
        extra["member_branch"] = np.ones(len(members["member_coef"]), dtype=np.int64)
    np.savez_compressed(
        OUT,
        **extra,
        coef=np.asarray(coefs, dtype=np.float32),
        intercept=np.asarray(intercepts, dtype=np.float32),
        knots=np.asarray(knots, dtype=np.float32),
        loss=np.asarray(losses, dtype=np.float32),
        prior_scores=prior.astype(np.float32),
    )
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes), design branch_lr, other branch {other}")


def curve_ci(s, weak, strong, share, rng, n=200) -> tuple[float, float, float]:
    """Share of GPT-4's accuracy kept at this strong share, with a bootstrap 95% interval."""
    kept = accuracy_at(s, weak, strong, share) / strong.mean()
    vals = []
    for _ in range(n):
        i = rng.integers(0, len(s), len(s))
        vals.append(accuracy_at(s[i], weak[i], strong[i], share) / strong[i].mean())
    lo, hi = np.percentile(vals, [2.5, 97.5])
    return kept, float(lo), float(hi)


def main() -> None:
    ap = parser(draws=6)
    ap.add_argument("--write", action="store_true", help="write the shipped branch_lr weights")
    ap.add_argument("--other", choices=("lr", "ens3"), default=OTHER, help="other-branch design")
    ap.add_argument("--designs", default=DESIGNS)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rows, X, F = load_featured(args)
    weak = np.array([r["weak_correct"] for r in rows], dtype=float)
    strong = np.array([r["strong_correct"] for r in rows], dtype=float)
    src = np.array([r["source"] for r in rows])
    rng = np.random.default_rng(args.seed)
    draws = [make_folds(rows, 100 + d) for d in range(args.draws)]
    designs = args.designs.split(",")
    print(
        f"rows: {len(rows)} (mmlu {int((src == 'mmlu').sum())}, "
        f"gsm8k {int((src == 'gsm8k').sum())}); 5-fold CV grouped by MMLU subject, "
        f"{args.draws} fold draws; keep {FLOOR:.0%} of GPT-4 accuracy"
    )
    print("share of strong calls needed: mean over fold draws (sd), bootstrap 95% CI on draw 0")
    print(f"{'design':<18} {'MMLU':<28} {'GSM8K':<28}")
    first = {}
    for d in designs:
        per_draw = []
        for j, folds in enumerate(draws):
            s = cv_scores(d, F, X, rows, weak, strong, folds, rng)
            if j == 0:
                first[d] = s
            per_draw.append(
                [
                    share_needed(s[src == n], weak[src == n], strong[src == n])
                    for n in ("mmlu", "gsm8k")
                ]
            )
        v = np.array(per_draw)
        cells = []
        for c, name in enumerate(("mmlu", "gsm8k")):
            m = src == name
            lo, hi = bootstrap_share(first[d][m], weak[m], strong[m], rng)
            cells.append(f"{v[:, c].mean():.3f} ({v[:, c].std():.3f}) [{lo:.2f}-{hi:.2f}]")
        print(f"{d:<18} {cells[0]:<28} {cells[1]:<28}", flush=True)
    if args.write:
        write_weights(F, X, rows, weak, strong, first["branch_lr"], args.other)
    print(
        "\ncurve, branch_lr (fold draw 0): strong share -> share of GPT-4 accuracy kept "
        "[bootstrap 95% CI]; random routing's expectation"
    )
    for name in ("mmlu", "gsm8k"):
        m = src == name
        w, st = weak[m].mean(), strong[m].mean()
        print(f"{name} (n={int(m.sum())}):")
        for share in (0.2, 0.3, 0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.8):
            kept, lo, hi = curve_ci(first["branch_lr"][m], weak[m], strong[m], share, rng)
            rand = (w + share * (st - w)) / st
            print(f"  {share:.0%}: {kept:.1%} [{lo:.1%}-{hi:.1%}]  random {rand:.1%}")


if __name__ == "__main__":
    main()
