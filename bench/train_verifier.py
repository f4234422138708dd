"""Train the semantic cache's verifier and calibrate its error budgets.

    nice -n 10 .venv/bin/python bench/train_verifier.py \\
        /work/shared/data/paraphrase-dev.jsonl --out src/lockgate/cache/semantic/verifier.json

Needs scikit-learn and scipy (``pip install 'lockgate[train]'``). Steps:

1. embed every text once with the local MiniLM (sentence + token vectors) and
   compute ``pair_features`` for every pair (cached in --features);
2. grouped 5-fold cross-validation: pairs that share a sentence (PAWS builds
   several pairs from one sentence) are put in one group, so no sentence is
   seen in training and in testing; compares logistic regression, a small
   MLP and gradient boosting (the last only as a yardstick: it does not ship);
3. cross-fitted operating points: for each test fold the probability threshold
   of each budget is chosen on the other folds' out-of-fold predictions, so
   the reported false-hit and hit rates come from rows used neither to train
   the model nor to pick its threshold;
4. fits the shipped model on all rows and writes the weights with the
   calibration table (budget -> thresholds, from all out-of-fold predictions).

The budget is calibrated per source of the calibration data: every natural
source within the budget, adversarial ones (PAWS) within 3x it (``limit``);
point estimates are used and the report shows the 95% Clopper-Pearson bounds.

Regimes (``verifier.Regime``, on by default): near copies (word Jaccard >=
--near-jaccard or at most --near-differing words differ) are judged by the
model's probability, rewordings by the sentence cosine; each budget gets both
thresholds at once (``regime_search``: the pair with the most true hits,
summed over sources as rates, that keeps every source within its limit).
``--no-regime`` calibrates one probability threshold for all pairs as before.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from rich.progress import Progress
from scipy.stats import beta, binomtest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GroupKFold
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

from lockgate.cache.semantic.embedder import LocalEmbedder, TokenVectors
from lockgate.cache.semantic.encoders import ENCODERS
from lockgate.cache.semantic.guards import extract_features
from lockgate.cache.semantic.verifier import FEATURE_NAMES, Regime, differing_words, pair_features

BUDGETS = (0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1)
RECALL = 0.70
SEED = 7


def vetoed(x: np.ndarray, vetoes: list[str]) -> np.ndarray:
    """Rows that one of the hard-veto guards rejects (guard features are 1 = different)."""
    out = np.zeros(len(x), dtype=bool)
    for name in vetoes:
        out |= x[:, FEATURE_NAMES.index(f"guard_{name}")] > 0.5
    return out


def load(path: Path) -> list[dict[str, Any]]:
    text = gzip.decompress(path.read_bytes()).decode() if path.suffix == ".gz" else path.read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def groups_of(rows: list[dict[str, Any]]) -> np.ndarray:
    """Connected components of the 'shares a sentence' graph (union-find)."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for r in rows:
        parent[find(r["q1"])] = find(r["q2"])
    roots: dict[str, int] = {}
    return np.asarray([roots.setdefault(find(r["q1"]), len(roots)) for r in rows])


def embed_texts(
    texts: list[str], backend: str, cache: Path, model: str | None = None
) -> dict[str, TokenVectors]:
    """Sentence and token vectors of every text (cached on disk, token vectors as
    float16, so guards can change without embedding again)."""
    vecs: dict[str, TokenVectors] = {}
    if cache.exists():  # the cache may hold more texts, or fewer: only the missing are embedded
        data = np.load(cache, allow_pickle=False)
        lengths = np.asarray(data["lengths"])
        ends = np.cumsum(lengths)
        tok, sent = np.asarray(data["tokens"]), np.asarray(data["sentences"])
        vecs = {
            str(t): TokenVectors(sent[i], tok[ends[i] - lengths[i] : ends[i]].astype(np.float32))
            for i, t in enumerate(data["texts"])
        }
    missing = [t for t in texts if t not in vecs]
    if missing:
        emb = LocalEmbedder(backend=backend, **({"model": model} if model else {}))  # type: ignore[arg-type]
        with Progress() as progress:
            task = progress.add_task(f"embedding ({backend})", total=len(missing))
            for start in range(0, len(missing), 32):
                chunk = missing[start : start + 32]
                vecs.update(zip(chunk, emb.embed_tokens_sync(chunk), strict=True))
                progress.advance(task, len(chunk))
        kept = sorted(vecs)
        np.savez(
            cache,
            texts=np.asarray(kept),
            lengths=np.asarray([len(vecs[t].tokens) for t in kept]),
            tokens=np.concatenate([vecs[t].tokens for t in kept]).astype(np.float16),
            sentences=np.stack([vecs[t].sentence for t in kept]),
        )
    return {t: vecs[t] for t in texts}


def featurise(
    rows: list[dict[str, Any]], backend: str, cache: Path, model: str | None = None
) -> np.ndarray:
    texts = sorted({t for r in rows for t in (r["q1"], r["q2"])})
    vecs = embed_texts(texts, backend, cache, model)
    feats = {t: extract_features(t) for t in texts}
    # the cached text is q1, the new question q2 (as `cache eval` reads a pair)
    return np.stack(
        [pair_features(vecs[r["q2"]], feats[r["q2"]], vecs[r["q1"]], feats[r["q1"]]) for r in rows]
    )


HIDDEN: tuple[int, ...] = (64,)
ALPHA = 1e-3


def models() -> dict[str, Any]:
    return {
        "logistic": LogisticRegression(C=1.0, max_iter=2000),
        "mlp": MLPClassifier(
            hidden_layer_sizes=HIDDEN,
            alpha=ALPHA,
            max_iter=400,
            random_state=SEED,
            early_stopping=True,
        ),
        "gboost": HistGradientBoostingClassifier(
            max_iter=300, learning_rate=0.05, random_state=SEED
        ),
    }


def balance(src: np.ndarray) -> np.ndarray:
    """Sample weights giving every source the same total weight (PAWS would drown STS-B)."""
    names, counts = np.unique(src, return_counts=True)
    per = {n: len(src) / (len(names) * c) for n, c in zip(names, counts, strict=True)}
    return np.asarray([per[s] for s in src])


#: columns of the rows the models see (the cross-encoder's column is appended after the
#: features; it is a model input only with --cross-feature)
FIT_COLUMNS = len(FEATURE_NAMES)


def fit(kind: str, x: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[StandardScaler, Any]:
    x = x[:, :FIT_COLUMNS]
    scaler = StandardScaler().fit(x)
    model = models()[kind]
    if kind == "mlp":
        # MLPClassifier takes no sample weights: resample to the same balance instead.
        rng = np.random.default_rng(SEED)
        idx = rng.choice(len(y), size=len(y), p=w / w.sum())
        model.fit(scaler.transform(x[idx]), y[idx])
    else:
        model.fit(scaler.transform(x), y, sample_weight=w)
    return scaler, model


ADVERSARIAL_FACTOR = 3.0
ADVERSARIAL_WEIGHT = 0.25


def limit(source: str, budget: float) -> float:
    """A source's allowance: the budget, or 3x on adversarial near-miss sets (PAWS).

    This is the targets' own reading of a 1% budget: <= 1% on natural traffic,
    <= 3% on sets built from word swaps to fool similarity.
    """
    return budget * ADVERSARIAL_FACTOR if "paws" in source else budget


def threshold_for(
    p: np.ndarray, y: np.ndarray, hit: np.ndarray, src: np.ndarray, budget: float
) -> float:
    """Smallest probability threshold keeping every source's false-hit rate within its limit."""
    order = np.argsort(-p, kind="stable")
    ps = p[order]
    allowed = np.ones(len(p), dtype=bool)
    for s in np.unique(src):
        neg = ((src == s) & (y == 0))[order]
        if not neg.any():
            continue
        false_hits = np.cumsum(neg & hit[order])
        allowed &= false_hits / neg.sum() <= limit(str(s), budget)
    # Thresholds are cut between distinct probabilities: accept the first k rows.
    bad = np.flatnonzero(~allowed)
    k = int(bad[0]) if len(bad) else len(p)
    while 0 < k < len(p) and ps[k] == ps[k - 1]:
        k -= 1  # a tie straddling the cut would let the bad row in too
    return float(ps[k - 1]) if k > 0 else 1.0 + 1e-9


def fhr_bound(total: int, confidence: float | None) -> np.ndarray:
    """For k = 0..total false hits among ``total`` negatives: the rate a budget is held
    against. ``None``: the point estimate k / total; else the one-sided Clopper-Pearson
    upper bound at ``confidence`` (calibrating to it leaves a margin that shrinks
    as the calibration data grows)."""
    k = np.arange(total + 1, dtype=np.float64)
    if confidence is None:
        return k / total
    out = np.ones(total + 1)
    out[:-1] = beta.ppf(confidence, k[:-1] + 1, total - k[:-1])
    return out


def regime_search(
    p: np.ndarray,
    cos: np.ndarray,
    near: np.ndarray,
    y: np.ndarray,
    hit: np.ndarray,
    src: np.ndarray,
    budget: float,
    grid: int = 201,
    adversarial_weight: float | None = None,
    confidence: float | None = None,
) -> tuple[float, float, float]:
    """(probability threshold for near copies, cosine threshold for rewordings, gain).

    Searches a grid of both (quantiles of the candidates' scores) for the pair
    with the largest weighted sum of per-source hit rates (the gain) that keeps
    every source's false-hit rate (``fhr_bound`` at ``confidence``) within
    ``limit``. Adversarial sources weigh ``ADVERSARIAL_WEIGHT``: the targets ask
    for hits on natural traffic, and near-miss sets are there to be refused.
    """
    adv = ADVERSARIAL_WEIGHT if adversarial_weight is None else adversarial_weight
    qs = np.linspace(0.0, 1.0, grid)

    def cuts(score: np.ndarray, rows: np.ndarray) -> np.ndarray:
        base = np.unique(np.quantile(score[rows], qs)) if rows.any() else np.empty(0)
        return np.append(base, np.inf)

    def counts(score: np.ndarray, cut: np.ndarray) -> np.ndarray:
        """How many of ``score`` are >= each cut (by one sort, not a pass per cut)."""
        return len(score) - np.searchsorted(np.sort(score), cut, side="left")

    ta, tb = cuts(p, hit & near), cuts(cos, hit & ~near)
    ok = np.ones((len(ta), len(tb)), dtype=bool)
    gain = np.zeros((len(ta), len(tb)))
    for s in np.unique(src):
        mine = hit & (src == s)
        neg, pos = int(((src == s) & (y == 0)).sum()), int(((src == s) & (y == 1)).sum())
        for label, total in ((0, neg), (1, pos)):
            if total == 0:
                continue
            ca = counts(p[mine & near & (y == label)], ta)
            cb = counts(cos[mine & ~near & (y == label)], tb)
            both = ca[:, None] + cb[None, :]
            if label == 0:
                ok &= fhr_bound(total, confidence)[both] <= limit(str(s), budget) + 1e-12
            else:
                weight = adv if "paws" in str(s) else 1.0
                gain += weight * both / total
    if not ok.any():  # no thresholds keep the bound (too few negatives): accept nothing
        return math.inf, math.inf, -1.0
    gain[~ok] = -1.0
    i, j = np.unravel_index(int(np.argmax(gain)), gain.shape)
    return float(ta[i]), float(tb[j]), float(gain[i, j])


def monotone(rows: list[list[float]]) -> list[list[float]]:
    """Stricter budgets never get a looser threshold (tightening must tighten)."""
    out = [list(r) for r in sorted(rows)]
    for i in range(len(out) - 2, -1, -1):
        for c in range(1, len(out[i])):
            out[i][c] = max(out[i][c], out[i + 1][c])
    return out


def ci(k: int, n: int) -> tuple[float, float]:
    if n == 0:
        return (float("nan"), float("nan"))
    r = binomtest(k, n).proportion_ci(0.95, method="exact")
    return float(r.low), float(r.high)


def per_source(accept: np.ndarray, y: np.ndarray, shown: np.ndarray) -> dict[str, Any]:
    """``rates`` per reported source (rows shown as "" are training-only)."""
    return {s: rates(accept[shown == s], y[shown == s]) for s in np.unique(shown) if s}


def family(source: str) -> str:
    """A source's family ("stsb:dev", "stsb:train" -> "stsb"): calibrated and weighted as one."""
    return source.split(":", 1)[0]


def rates(accept: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    pos, neg = int((y == 1).sum()), int((y == 0).sum())
    th, fh = int((accept & (y == 1)).sum()), int((accept & (y == 0)).sum())
    return {
        "n": len(y),
        "positives": pos,
        "negatives": neg,
        "true_hits": th,
        "false_hits": fh,
        "hit_rate": th / pos if pos else None,
        "hit_rate_ci": ci(th, pos),
        "false_hit_rate": fh / neg if neg else None,
        "false_hit_rate_ci": ci(fh, neg),
        "precision": th / (th + fh) if th + fh else None,
        "precision_ci": ci(th, th + fh),
    }


CONFIDENCES: tuple[float | None, ...] = (None, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
AUTO_LEVEL: float | None = 0.8


def decide(
    x: np.ndarray, differing: np.ndarray, p: np.ndarray, rows: np.ndarray, c: dict[str, Any],
    ta: float, tb: float,
) -> np.ndarray:  # fmt: skip
    """The verdicts on ``rows`` of choice ``c`` at thresholds (``ta``, ``tb``)."""
    regime = regime_of(c)
    near = regime.near_copy(x[rows], differing[rows])
    hit = (x[rows, 0] >= RECALL) & ~vetoed(x[rows], c["vetoes"])
    out: np.ndarray = hit & np.where(near, p[rows] >= ta, regime.rewording_score(x[rows]) >= tb)
    return out


class BenchRegime(Regime):
    """The runtime regime, plus rewordings judged on a cross-encoder's probability
    (``"cross"``: the last column of the rows, appended by ``--cross-encoder``)."""

    def rewording_score(self, rows: Any) -> Any:
        if self.reworded_by == "cross":
            return np.asarray(rows, dtype=np.float32)[:, -1]
        return super().rewording_score(rows)


def regime_of(c: dict[str, Any]) -> Regime:
    return BenchRegime(c["near_jaccard"], c["near_differing"], c.get("reworded_by", "cosine"))


def pick(
    x: np.ndarray, y: np.ndarray, src: np.ndarray, differing: np.ndarray, p: np.ndarray,
    rows: np.ndarray, choices: list[dict[str, Any]], budget: float, confidence: float | None,
) -> tuple[dict[str, Any], float, float]:  # fmt: skip
    """The choice (regime cut, vetoes) and thresholds with the most weighted hits on ``rows``."""
    best: tuple[float, dict[str, Any], float, float] | None = None
    for c in choices:
        regime = regime_of(c)
        near = regime.near_copy(x[rows], differing[rows])
        hit = (x[rows, 0] >= RECALL) & ~vetoed(x[rows], c["vetoes"])
        ta, tb, gain = regime_search(
            p[rows], regime.rewording_score(x[rows]), near, y[rows], hit, src[rows], budget,
            adversarial_weight=c["adversarial_weight"], confidence=confidence,
        )  # fmt: skip
        if best is None or gain > best[0] + 1e-12:
            best = (gain, c, ta, tb)
    assert best is not None
    return best[1], best[2], best[3]


_CROSS_FITTED: dict[tuple[float, int, int, float, float | None], np.ndarray] = {}


def choose_confidence(
    x: np.ndarray, y: np.ndarray, src: np.ndarray, differing: np.ndarray, p: np.ndarray,
    parts: list[np.ndarray], choices: list[dict[str, Any]], budget: float,
    level: float | str | None = "default",
) -> float | None:  # fmt: skip
    """The least margin that keeps the budget out of sample on these rows.

    ``parts`` partition the rows (folds whose ``p`` are out-of-fold). For each
    confidence, least first, every part is judged at the thresholds picked on
    the other parts; the first confidence whose pooled false-hit count keeps
    every source within its limit wins (the strictest if none does). The pooled
    count is held to the limit through ``fhr_bound`` at ``AUTO_LEVEL`` (None: its
    point estimate; ``level`` overrides it), so the chosen margin keeps the budget out
    of sample with about that confidence rather than about half the time.
    """
    held = AUTO_LEVEL if level == "default" else level
    assert not isinstance(held, str)
    rows = np.concatenate(parts)
    for confidence in CONFIDENCES:
        # the same verdicts serve every level (auto, auto@0.9, ...): computed once
        key = (float(p.sum()), len(rows), int(rows.sum()), budget, confidence)
        accept = _CROSS_FITTED.get(key)
        if accept is None:
            accept = np.zeros(len(y), dtype=bool)
            for part in parts:
                others = np.setdiff1d(rows, part)
                c, ta, tb = pick(x, y, src, differing, p, others, choices, budget, confidence)
                accept[part] = decide(x, differing, p, part, c, ta, tb)
            _CROSS_FITTED[key] = accept
        fine = True
        for s in np.unique(src[rows]):
            neg = rows[(src[rows] == s) & (y[rows] == 0)]
            rate = fhr_bound(len(neg), held)[int(accept[neg].sum())]
            fine &= bool(rate <= limit(str(s), budget) + 1e-12)
        if fine:
            return confidence
    return CONFIDENCES[-1]


def auto_level(margin: str) -> float | str | None:
    """The level an "auto" margin holds its cross-fitted false-hit rate to: "auto" the
    default (``--auto-level``), "auto@0.9" 0.9, "auto@none" the point estimate."""
    if margin == "auto":
        return "default"
    level = margin.removeprefix("auto@")
    return None if level == "none" else float(level)


def nested_cv(
    x: np.ndarray,
    y: np.ndarray,
    src: np.ndarray,
    differing: np.ndarray,
    groups: np.ndarray,
    folds: list[tuple[np.ndarray, np.ndarray]],
    weights: np.ndarray,
    choices: list[dict[str, Any]],
    budgets: tuple[float, ...],
    kind: str = "mlp",
    inner_folds: int = 4,
    confidences: tuple[float | str | None, ...] = (None,),
    cache: Path | None = None,
    shown: np.ndarray | None = None,
    verdicts: Path | None = None,
    fold_seed: int | None = None,
) -> tuple[dict[str, dict[str, dict[str, Any]]], list[dict[str, Any]]]:
    """Nested grouped CV: everything a test fold is judged with is chosen without it.

    For each outer fold, the model's probabilities on the outer training rows come
    from an inner grouped CV; on those, each of ``choices`` (regime cut, vetoes)
    gets its thresholds for the budget, and the choice with the most weighted hits
    wins (every choice is scored with the same weights). Each of ``confidences``
    is a calibration margin (see ``fhr_bound``); ``"auto"`` chooses it there too
    (``choose_confidence`` over the inner folds). The model refitted on all outer
    training rows then scores the test fold at the winning choice's thresholds.
    One table per entry of ``confidences`` (the models are fitted once for all).
    ``shown`` names the source each row is reported under ("" = not reported:
    training-only rows); by default ``src``. ``verdicts``: an npz to keep every row's
    out-of-sample verdict per margin and budget (for paired tests between runs).
    """
    tables: dict[str, dict[str, dict[str, Any]]] = {}
    accept = {(m, b): np.zeros(len(y), dtype=bool) for m in confidences for b in budgets}
    picked: list[dict[str, Any]] = []
    key = np.asarray(
        [len(y), len(folds), inner_folds, float(x[:, :FIT_COLUMNS].sum()), sum(map(ord, kind))]
        + ([] if fold_seed is None else [fold_seed])
    )
    saved = np.load(cache) if cache is not None and cache.exists() else None
    if saved is not None and not np.array_equal(saved["key"], key):
        saved = None
    all_in, all_out = np.zeros((len(folds), len(y))), np.zeros((len(folds), len(y)))
    for fold, (train, test) in enumerate(folds):
        parts = [
            train[itest]
            for _, itest in GroupKFold(n_splits=inner_folds).split(
                x[train], y[train], groups[train]
            )
        ]
        if saved is not None:
            p_in, p_out = saved["p_in"][fold], saved["p_out"][fold]
        else:
            p_in, p_out = np.zeros(len(y)), np.zeros(len(y))
            for part in parts:
                itrain = np.setdiff1d(train, part)
                scaler, model = fit(kind, x[itrain], y[itrain], weights[itrain])
                p_in[part] = model.predict_proba(scaler.transform(x[part, :FIT_COLUMNS]))[:, 1]
            scaler, model = fit(kind, x[train], y[train], weights[train])
            p_out[test] = model.predict_proba(scaler.transform(x[test, :FIT_COLUMNS]))[:, 1]
        all_in[fold], all_out[fold] = p_in, p_out
        for margin, budget in accept:
            conf = (
                choose_confidence(
                    x, y, src, differing, p_in, parts, choices, budget, auto_level(margin)
                )
                if isinstance(margin, str)
                else margin
            )
            assert not isinstance(conf, str)
            c, ta, tb = pick(x, y, src, differing, p_in, train, choices, budget, conf)
            accept[margin, budget][test] = decide(x, differing, p_out, test, c, ta, tb)
            picked.append(
                {"fold": fold, "margin": margin, "budget": budget, **c, "accept": ta,
                 "reworded": tb, "confidence": conf}
            )  # fmt: skip
        mine = [q for q in picked if q["fold"] == fold and q["budget"] == 0.01]
        print(f"  nested fold {fold}: picked at 0.01: {mine}", flush=True)
    if cache is not None and saved is None:
        np.savez(cache, key=key, p_in=all_in, p_out=all_out)
    shown = src if shown is None else shown
    if verdicts is not None:
        np.savez(verdicts, **{f"{m}@{b}": a for (m, b), a in accept.items()}, y=y, shown=shown)
    for margin, budget in accept:
        tables.setdefault(str(margin), {})[str(budget)] = per_source(
            accept[margin, budget], y, shown
        )
    return tables, picked


def print_table(per_budget: dict[str, Any]) -> None:
    for budget, per in per_budget.items():
        cells = []
        for s, r in per.items():
            lo, hi = r["false_hit_rate_ci"]
            hlo, hhi = r["hit_rate_ci"]
            cells.append(
                f"{s}: hit {r['hit_rate']:.3f} [{hlo:.3f},{hhi:.3f}] "
                f"fh {r['false_hit_rate']:.4f} [{lo:.4f},{hi:.4f}] (n={r['n']})"
            )
        print(f"  {float(budget):6.4f}  " + " | ".join(cells))


def main() -> None:
    global HIDDEN, ALPHA, ADVERSARIAL_WEIGHT, AUTO_LEVEL, FIT_COLUMNS, CONFIDENCES
    ap = argparse.ArgumentParser()
    ap.add_argument("pairs", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument(
        "--vectors",
        type=Path,
        default=None,
        help="cache of the texts' vectors (default /tmp/lockgate-verifier-vectors-BACKEND.npz)",
    )
    ap.add_argument("--backend", default="onnx", choices=("onnx", "onnx-int8"))
    ap.add_argument(
        "--model",
        default="all-MiniLM-L6-v2",
        choices=ENCODERS,
        help="the local embedder's encoder (lockgate.cache.semantic.encoders)",
    )
    ap.add_argument("--report", type=Path, default=None)
    ap.add_argument(
        "--verdicts",
        type=Path,
        default=None,
        help="npz keeping the nested CV's verdict on every row (McNemar between runs)",
    )
    ap.add_argument(
        "--extra",
        type=Path,
        action="append",
        default=[],
        help="more labelled pairs (jsonl[.gz], e.g. bench/data/stsb_train_headlines.jsonl.gz):"
        " trained and calibrated on with their source's family, never reported (the tables"
        " are the dev file's rows only)",
    )
    ap.add_argument("--ship", default="mlp", choices=("logistic", "mlp"))
    ap.add_argument(
        "--vetoes",
        default="numbers,units,negation,opposites,question",
        help="guards kept as hard vetoes on top of the verifier (comma-separated)",
    )
    ap.add_argument(
        "--yardstick", action="store_true", help="also cross-validate gradient boosting (slow)"
    )
    ap.add_argument("--hidden", default="64", help="MLP hidden layer sizes, e.g. 64,32")
    ap.add_argument("--alpha", type=float, default=1e-3, help="MLP L2 penalty")
    ap.add_argument("--folds", type=int, default=5, help="grouped CV folds")
    ap.add_argument("--near-jaccard", type=float, default=0.7, help="near copy: Jaccard >= this")
    ap.add_argument(
        "--near-differing", type=int, default=2, help="... or <= this many words differ"
    )
    ap.add_argument(
        "--reworded-by",
        default="cosine,align",
        help="what rewordings are judged on: cosine, align (mean best token match), or both"
        " (comma-separated: --nested chooses, else the first)",
    )
    ap.add_argument(
        "--prob-cache",
        type=Path,
        default=None,
        help="npz keeping the nested CV's fitted probabilities (reruns skip the fits)",
    )
    ap.add_argument("--no-regime", action="store_true", help="one probability threshold for all")
    ap.add_argument(
        "--adversarial-weight",
        type=float,
        default=ADVERSARIAL_WEIGHT,
        help="weight of adversarial sources' hit rate when picking the two thresholds",
    )
    ap.add_argument(
        "--nested",
        action="store_true",
        help="nested CV over the regime cut, vetoes and adversarial weight (the headline table);"
        " the shipped choice is then picked by the same rule on all out-of-fold predictions",
    )
    ap.add_argument(
        "--confidence",
        default="auto",
        help="calibration margin: 'none' (budget on the point estimate), a level such as 0.8"
        " (one-sided Clopper-Pearson upper bound within the budget), or 'auto' (the least"
        " level whose cross-fitted false-hit rate keeps the budget, chosen per budget on"
        " training folds only); comma-separated: the nested CV reports each, the first ships",
    )
    ap.add_argument(
        "--auto-level",
        default="0.8",
        help="with --confidence auto: the confidence that the cross-fitted false-hit rate"
        " keeps the budget ('none': its point estimate)",
    )
    ap.add_argument(
        "--levels",
        default=None,
        help="the margins 'auto' chooses from, least first (default: none,0.5,0.6,0.7,0.8,0.9,"
        "0.95); with none keeping the budget it takes the last",
    )
    ap.add_argument(
        "--fold-seed",
        type=int,
        default=None,
        help="shuffle the groups into the outer folds with this seed (repeated CV: the"
        " split's own noise); default: sklearn's unshuffled GroupKFold, as shipped",
    )
    ap.add_argument(
        "--budgets",
        default=None,
        help="budgets the nested CV reports (comma-separated; default: the calibration's)",
    )
    ap.add_argument(
        "--safety",
        type=float,
        default=1.0,
        help="calibrate every budget b at b * SAFETY (a margin for unseen data: the"
        " shipped row of 1%% then holds the thresholds of 1%% * SAFETY); the nested CV's"
        " row b * SAFETY shows what it gives",
    )
    ap.add_argument(
        "--cross-encoder",
        type=Path,
        default=None,
        help="oof.npz of bench/train_cross_encoder.py (same --folds and --extra): its"
        " out-of-fold probability becomes a rewording score ('cross' in --reworded-by)",
    )
    ap.add_argument(
        "--cross-order",
        default="mean",
        choices=("mean", "p12", "p21"),
        help="with --cross-encoder: both orders' mean, cached text first (p12) or second",
    )
    ap.add_argument(
        "--cross-feature", action="store_true", help="the cross-encoder is an MLP input too"
    )
    args = ap.parse_args()
    HIDDEN = tuple(int(h) for h in args.hidden.split(","))
    ALPHA = args.alpha
    ADVERSARIAL_WEIGHT = args.adversarial_weight
    margins: tuple[float | str | None, ...] = tuple(
        None if m == "none" else m if m.startswith("auto") else float(m)
        for m in args.confidence.split(",")
    )
    confidence = margins[0]
    AUTO_LEVEL = None if args.auto_level == "none" else float(args.auto_level)
    if args.levels is not None:
        CONFIDENCES = tuple(None if c == "none" else float(c) for c in args.levels.split(","))
    rows = load(args.pairs)
    dev = len(rows)
    for extra in args.extra:
        rows += load(extra)
    y = np.asarray([int(r["label"]) for r in rows])
    full = [str(r.get("source", "all")) for r in rows]
    # Sources of one family (e.g. STS-B dev and train) are weighted and calibrated as one;
    # only the dev file's rows are reported.
    src = np.asarray([family(s) if args.extra else s for s in full])
    shown = np.asarray([s if i < dev else "" for i, s in enumerate(full)])
    vectors = args.vectors or Path(f"/tmp/lockgate-verifier-vectors-{args.backend}.npz")
    x = featurise(rows, args.backend, vectors, args.model)
    if args.cross_encoder is not None:
        saved = np.load(args.cross_encoder)
        assert len(saved["p12"]) == len(rows) and saved["done"].all(), "unfinished or other rows"
        # rows it never scored (bench/cross_candidates.py) are never judged on it: 0
        p12, p21 = np.nan_to_num(saved["p12"]), np.nan_to_num(saved["p21"])
        ce = {"mean": (p12 + p21) / 2, "p12": p12, "p21": p21}
        x = np.hstack([x, ce[args.cross_order][:, None]])
        FIT_COLUMNS = x.shape[1] if args.cross_feature else len(FEATURE_NAMES)
    feats = {t: extract_features(t) for r in rows for t in (r["q1"], r["q2"])}
    differing = np.asarray([differing_words(feats[r["q2"]], feats[r["q1"]]) for r in rows])
    regime = None if args.no_regime else BenchRegime(args.near_jaccard, args.near_differing)
    near = np.ones(len(rows), dtype=bool) if regime is None else regime.near_copy(x, differing)
    rewordings = [r for r in args.reworded_by.split(",") if r]
    if regime is not None:
        regime = BenchRegime(args.near_jaccard, args.near_differing, rewordings[0])
    cos = x[:, 0] if regime is None else regime.rewording_score(x)  # what rewordings pass on
    groups = groups_of(rows)
    if args.fold_seed is None:
        folds = list(GroupKFold(n_splits=args.folds).split(x, y, groups))
    else:
        shuffled = GroupKFold(n_splits=args.folds, shuffle=True, random_state=args.fold_seed)
        folds = list(shuffled.split(x, y, groups))
    nested_budgets = (
        BUDGETS if args.budgets is None else tuple(float(b) for b in args.budgets.split(","))
    )
    safety = args.safety
    vetoes = [v for v in args.vetoes.split(",") if v]
    hit = (x[:, 0] >= RECALL) & ~vetoed(x, vetoes)
    weights = balance(src)
    report: dict[str, Any] = {"n": len(rows), "groups": int(groups.max() + 1), "recall": RECALL}
    report["extra"] = {str(e): sum(1 for s in shown if not s) for e in args.extra[:1]}
    report["near_copies"] = {s: float(near[src == s].mean()) for s in np.unique(src)}
    print(f"near copies per source: {report['near_copies']}")

    margin: dict[float, float | None] = {}  # budget -> confidence level it is calibrated at

    def calibrate(p: np.ndarray, idx: np.ndarray, budget: float) -> tuple[float, float]:
        """Thresholds (near copy, rewording) for ``budget`` from rows ``idx``."""
        if regime is None:
            t = threshold_for(p[idx], y[idx], hit[idx], src[idx], budget * safety)
            return t, t
        return regime_search(
            p[idx], cos[idx], near[idx], y[idx], hit[idx], src[idx], budget * safety,
            confidence=margin.get(budget),
        )[:2]  # fmt: skip

    def accepted(p: np.ndarray, rows_: np.ndarray, t: tuple[float, float]) -> np.ndarray:
        if regime is None:
            return hit[rows_] & (p[rows_] >= t[0])
        return hit[rows_] & np.where(near[rows_], p[rows_] >= t[0], cos[rows_] >= t[1])

    oof: dict[str, np.ndarray] = {}
    kinds = ["logistic", "mlp", *(["gboost"] if args.yardstick else [])]
    for kind in kinds:
        p = np.zeros(len(rows))
        t0 = time.perf_counter()
        for train, test in folds:
            scaler, model = fit(kind, x[train], y[train], weights[train])
            p[test] = model.predict_proba(scaler.transform(x[test, :FIT_COLUMNS]))[:, 1]
        oof[kind] = p
        auc = {s: roc_auc_score(y[shown == s], p[shown == s]) for s in np.unique(shown) if s}
        report[f"{kind}_auc"] = auc
        print(f"{kind:9} AUC per source {auc}  ({time.perf_counter() - t0:.1f}s)")
    if args.cross_encoder is not None:
        for name, score in (("cosine", x[:, 0]), ("cross", x[:, -1])):
            auc = {
                s: (roc_auc_score(y[m], score[m]), roc_auc_score(y[m & ~near], score[m & ~near]))
                for s in np.unique(shown)
                if s
                for m in [shown == s]
            }
            report[f"{name}_auc_all_reworded"] = auc
            print(f"{name:9} AUC per source (all rows, rewordings only) {auc}")
    choices = [
        {
            "near_jaccard": j,
            "near_differing": d,
            "vetoes": vetoes,
            "adversarial_weight": a,
            "reworded_by": r,
        }
        for j in ((0.6, 0.7, 0.8) if args.nested else (args.near_jaccard,))
        for d in ((1, 2, 3) if args.nested else (args.near_differing,))
        for r in rewordings
        # one objective for every choice (the weight is part of it, not a choice)
        for a in (ADVERSARIAL_WEIGHT,)
    ]
    if args.nested and regime is not None:
        t0 = time.perf_counter()
        nested, picked = nested_cv(
            x, y, src, differing, groups, folds, weights, choices, nested_budgets,
            kind=args.ship, confidences=margins, cache=args.prob_cache, shown=shown,
            verdicts=args.verdicts, fold_seed=args.fold_seed,
        )  # fmt: skip
        report["nested_cv"] = nested
        report["nested_picked"] = picked
        for level, table_m in nested.items():
            print(f"\nnested CV, margin {level} ({time.perf_counter() - t0:.0f}s): per source")
            print_table(table_m)
    if regime is not None:
        # The shipped margin and choice: the same rules on all out-of-fold predictions.
        parts = [test for _, test in folds]
        for budget in BUDGETS:
            margin[budget] = (
                choose_confidence(
                    x, y, src, differing, oof[args.ship], parts, choices, budget * safety,
                    auto_level(confidence),
                )
                if isinstance(confidence, str)
                else confidence
            )  # fmt: skip
        report["margin"] = {str(b): c for b, c in margin.items()}
        print(f"calibration margin (confidence per budget): {margin}")
        chosen, _, _ = pick(
            x, y, src, differing, oof[args.ship], np.arange(len(rows)), choices, 0.01 * safety,
            margin[0.01],
        )  # fmt: skip
        print(f"shipped choice (all OOF, budget 0.01): {chosen}")
        report["shipped_choice"] = chosen
        regime = regime_of(chosen)
        near = regime.near_copy(x, differing)
        cos = regime.rewording_score(x)
        vetoes = list(chosen["vetoes"])
        hit = (x[:, 0] >= RECALL) & ~vetoed(x, vetoes)
    auc_cos = {s: roc_auc_score(y[shown == s], x[shown == s, 0]) for s in np.unique(shown) if s}
    report["cosine_auc"] = auc_cos
    print(f"cosine    AUC per source {auc_cos}")

    # Cross-fitted operating points: thresholds picked on the other folds' OOF predictions.
    table: dict[str, dict[str, Any]] = defaultdict(dict)
    for kind in oof:
        p = oof[kind]
        for budget in BUDGETS:
            accept = np.zeros(len(rows), dtype=bool)
            for _, test in folds:
                others = np.setdiff1d(np.arange(len(rows)), test)
                accept[test] = accepted(p, test, calibrate(p, others, budget))
            table[kind][str(budget)] = per_source(accept, y, shown)
    report["cv"] = table
    for kind in table:
        print(f"\n{kind}: budget -> per source hit rate / false-hit rate [95% CI] (n)")
        print_table(table[kind])

    scaler, model = fit(args.ship, x, y, weights)
    p_all = oof[args.ship]
    everything = np.arange(len(rows))
    if regime is None:
        calibration = monotone([[b, calibrate(p_all, everything, b)[0]] for b in BUDGETS])
    else:
        calibration = monotone([[b, *calibrate(p_all, everything, b)] for b in BUDGETS])
    if args.ship == "logistic":
        layers = [[model.coef_.T.tolist(), model.intercept_.tolist()]]
    else:
        layers = [
            [w.tolist(), b.tolist()] for w, b in zip(model.coefs_, model.intercepts_, strict=True)
        ]
    spec = {
        "kind": args.ship,
        "features": list(FEATURE_NAMES),
        "mean": scaler.mean_.tolist(),
        "scale": scaler.scale_.tolist(),
        "layers": layers,
        "recall": RECALL,
        "vetoes": vetoes,
        "calibration": calibration,
        "backend": args.backend,
        "model": args.model,
        **(
            {}
            if regime is None
            else {
                "regime": {
                    "min_jaccard": regime.min_jaccard,
                    "max_differing": regime.max_differing,
                    "reworded_by": regime.reworded_by,
                }
            }
        ),
        "info": {
            "trained_on": f"{args.pairs.name}: {dev} pairs"
            + "".join(f" + {e.name}" for e in args.extra)
            + f" ({len(rows)} pairs)",
            "calibrated": f"out-of-fold predictions, grouped {args.folds}-fold CV; "
            "natural sources within the budget, PAWS within 3x"
            + f"; margin (one-sided Clopper-Pearson level per budget): {margin}"
            + ("" if safety == 1.0 else f"; each budget b calibrated at b * {safety}")
            + ("" if regime is None else "; near copies on probability, rewordings on cosine"),
        },
    }
    args.out.write_text(json.dumps(spec, separators=(",", ":")))
    print(f"\nwrote {args.out} ({args.out.stat().st_size} bytes); calibration {calibration}")
    if args.report:
        args.report.write_text(json.dumps(report, indent=1, default=float))


if __name__ == "__main__":
    main()
