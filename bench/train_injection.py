"""Train the injection detector's linear model and write the package weights file.

Logistic regression over the string features of ``lockgate.guards.injection._features``,
fitted with numpy (full-batch Adam, L2). The hand-set heuristic logit of each window
is a fixed offset, so the model learns only what the pattern families miss.

Training rows of the shipped model: bench/data/injection_train.jsonl.gz (17 public and
generated sources, built by bench/injection_data.py; it includes the dev file and the
hand-written synthetic file). The figures to quote are leave-one-source-out ones from
bench/injection_loso.py. The stratified k-fold cross-validation on the dev file below
(synthetic rows always on the training side) is kept for comparison with earlier runs.

    .venv/bin/python bench/train_injection.py [--folds 5] [--sweep 3e-4 3e-3] [--write]
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from lockgate.guards.injection._data_cues import data_features  # noqa: E402
from lockgate.guards.injection._detector import (  # noqa: E402
    DEFAULT_THRESHOLD,
    InjectionDetector,
    piece_spans,
)
from lockgate.guards.injection._features import extract_features, tokenize, windows  # noqa: E402
from lockgate.guards.injection._heuristics import PatternMatcher  # noqa: E402
from lockgate.guards.injection._model import (  # noqa: E402
    WEIGHTS_FILE,
    LinearModel,
    feature_scale,
    make_model,
)
from lockgate.guards.injection._normalize import normalize  # noqa: E402

DEV = Path(__file__).resolve().parents[1] / "data" / "dev" / "injection-dev.jsonl"
SYNTHETIC = ROOT / "bench" / "data" / "injection_synthetic.jsonl"
BROAD = ROOT / "bench" / "data" / "injection_train.jsonl.gz"
OUT = ROOT / "src" / "lockgate" / "guards" / "injection" / WEIGHTS_FILE
WINDOW, STRIDE = 1024, 768
REF_FEATURES = 64
MATCHER = PatternMatcher()


@dataclass(frozen=True)
class Win:
    feats: frozenset[str]
    offset: float  # the heuristic logit of the window
    n_words: int  # word features (the damping follows these alone)
    key: str  # the normalised text of a data piece ("" for a user-turn window)


@dataclass(frozen=True)
class Row:
    text: str
    label: int
    source: str
    windows: tuple[Win, ...]
    kind: str = "direct"
    #: a data row's whole-text windows (the user-turn view), for the shared stage
    text_wins: tuple[Win, ...] = ()


def text_windows(text: str, rule_features: bool = False) -> list[Win]:
    """A user-turn text as the runtime scores it: overlapping windows of word features."""
    out = []
    for w in windows(normalize(text).text, WINDOW, STRIDE):
        tokens = tokenize(w)
        feats = extract_features(tokens)
        hits = MATCHER.match(w, tokens)
        n = len(feats)
        if rule_features:
            feats |= {"r:" + name for name in hits.names}
        out.append(Win(frozenset(feats), hits.logit, n, ""))
    return out


def data_windows(text: str) -> list[Win]:
    """Data as ``InjectionDetector.score_data`` scores it: piece by piece, with the
    data-channel features (``d:`` copies and ``c:`` cues)."""
    spans = piece_spans(text)
    pieces = [text] if len(spans) <= 1 else [text[a:b] for a, b in spans]
    out = []
    for piece in pieces:
        norm = normalize(piece).text
        wins = windows(norm, WINDOW, STRIDE)
        for w in wins:
            tokens = tokenize(w)
            base = extract_features(tokens)
            feats = data_features(piece if len(wins) == 1 else w, base)
            out.append(Win(frozenset(feats), MATCHER.match(w, tokens).logit, len(base), norm))
    return out


def make_row(obj: dict[str, object], data_channel: bool = True) -> Row:
    text, kind = str(obj["text"]), str(obj.get("kind", "direct"))
    label, source = int(obj["label"]), str(obj.get("source", ""))  # type: ignore[call-overload]
    if data_channel and kind == "indirect":
        return Row(text, label, source, tuple(data_windows(text)), kind, tuple(text_windows(text)))
    return Row(text, label, source, tuple(text_windows(text)), kind)


def load(path: Path) -> list[Row]:
    raw = (
        gzip.decompress(path.read_bytes()).decode("utf-8")
        if path.suffix == ".gz"
        else path.read_text(encoding="utf-8")
    )
    return [make_row(json.loads(line)) for line in raw.split("\n") if line.strip()]


def fit(
    rows: list[Row],
    lam: float,
    min_df: int,
    iters: int = 400,
    lr: float = 0.05,
    source_power: float = 0.5,
) -> LinearModel:
    """Fit the model in two stages.

    1. The shared word model, on every row as the user-turn scorer sees it (data rows
       as whole-text windows): what the user turn is scored with, untouched by stage 2.
    2. The data channel (``d:`` word copies, ``c:`` cues and the ``c:bias`` intercept),
       on the data rows only, piece by piece, with stage 1's logit of each piece (plus
       the pattern logit) as a fixed offset: it learns what data adds, not a second copy.

    Each row's weight is its class's balance weight times (rows of its source) **
    -source_power, so that a few large sources (hundreds of jailbreak templates) do not
    decide what an attack looks like."""
    shared = _fit_stage(
        [(r, [(w, r.label) for w in r.text_wins or r.windows]) for r in rows],
        lam, min_df, iters, lr, source_power, fit_bias=True,
    )  # fmt: skip
    data_rows = [r for r in rows if r.kind == "indirect" and r.text_wins]
    if not data_rows:
        return make_model(shared.bias, shared.weights, WINDOW, STRIDE, REF_FEATURES)
    # A data piece of an injected document that also occurs in a benign document of the
    # training rows is benign text around the injection: train it as label 0, not 1.
    benign_pieces = {w.key for r in data_rows if not r.label for w in r.windows}
    labelled: list[tuple[Row, list[tuple[Win, int]]]] = []
    for row in data_rows:
        staged = []
        for w in row.windows:
            words = frozenset(f for f in w.feats if not f.startswith(("d:", "c:")))
            extra = frozenset(f for f in w.feats if f.startswith(("d:", "c:")))
            base = shared.logit(set(words), w.n_words)
            staged.append((Win(extra, w.offset + base, w.n_words, w.key), w.key))
        if row.label:
            marks = [(w, 0 if key in benign_pieces else 1) for w, key in staged]
            if not any(y for _, y in marks):
                marks = [(w, 1) for w, _ in staged]
        else:
            marks = [(w, 0) for w, _ in staged]
        labelled.append((row, marks))
    data = _fit_stage(labelled, lam, min_df, iters, lr, source_power, fit_bias=False)
    return make_model(shared.bias, {**shared.weights, **data.weights}, WINDOW, STRIDE, REF_FEATURES)


def _fit_stage(
    labelled: list[tuple[Row, list[tuple[Win, int]]]],
    lam: float,
    min_df: int,
    iters: int,
    lr: float,
    source_power: float,
    *,
    fit_bias: bool,
) -> LinearModel:
    """Logistic regression (full-batch Adam, L2) over windows with fixed offsets."""
    rows = [r for r, _ in labelled]
    df: dict[str, int] = {}
    for _, marks in labelled:
        seen: set[str] = set()
        for w, _ in marks:
            seen |= w.feats
        for f in seen:
            df[f] = df.get(f, 0) + 1
    vocab = {f: i for i, f in enumerate(sorted(f for f, c in df.items() if c >= min_df))}
    r_idx, c_idx, vals, y, off, sw = [], [], [], [], [], []
    sizes: dict[tuple[str, int], int] = {}
    for row in rows:
        sizes[(row.source, row.label)] = sizes.get((row.source, row.label), 0) + 1
    src_w = {k: n**-source_power for k, n in sizes.items()}
    pos_mass = sum(src_w[(r.source, r.label)] for r in rows if r.label)
    neg_mass = sum(src_w[(r.source, r.label)] for r in rows if not r.label)
    s = 0
    for row, marks in labelled:
        k = len(marks)
        mass = pos_mass if row.label else neg_mass
        cls_w = 0.5 * src_w[(row.source, row.label)] / mass
        for win, label in marks:
            x = feature_scale(win.n_words, REF_FEATURES)
            for f in win.feats:
                j = vocab.get(f)
                if j is not None:
                    r_idx.append(s)
                    c_idx.append(j)
                    vals.append(x)
            y.append(label)
            off.append(win.offset)
            sw.append(cls_w / k)
            s += 1
    ri = np.asarray(r_idx)
    ci = np.asarray(c_idx)
    xv = np.asarray(vals, dtype=np.float64)
    yy = np.asarray(y, dtype=np.float64)
    oo = np.asarray(off, dtype=np.float64)
    ww = np.asarray(sw, dtype=np.float64)
    ww /= ww.sum()
    v = len(vocab)
    w = np.zeros(v)
    b = 0.0
    m = np.zeros(v + 1)
    vv = np.zeros(v + 1)
    b1, b2, eps = 0.9, 0.999, 1e-8
    for t in range(1, iters + 1):
        z = np.bincount(ri, weights=w[ci] * xv, minlength=s) + b + oo
        p = 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))
        err = (p - yy) * ww
        g = np.empty(v + 1)
        g[:v] = np.bincount(ci, weights=err[ri] * xv, minlength=v) + 2 * lam * w
        g[v] = err.sum() if fit_bias else 0.0
        m = b1 * m + (1 - b1) * g
        vv = b2 * vv + (1 - b2) * g * g
        step = lr * (m / (1 - b1**t)) / (np.sqrt(vv / (1 - b2**t)) + eps)
        w -= step[:v]
        b -= float(step[v])
    inv = {i: f for f, i in vocab.items()}
    weights = {inv[i]: round(float(w[i]), 4) for i in range(v) if abs(w[i]) >= 0.005}
    return LinearModel(round(b, 4), weights, WINDOW, STRIDE, REF_FEATURES)


def metrics(labels: list[int], scores: list[float], thr: float) -> dict[str, float]:
    tp = sum(1 for y, s in zip(labels, scores, strict=True) if y and s >= thr)
    fp = sum(1 for y, s in zip(labels, scores, strict=True) if not y and s >= thr)
    pos = sum(labels)
    neg = len(labels) - pos
    prec = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / pos if pos else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return {"precision": prec, "recall": rec, "f1": f1, "fpr": fp / neg if neg else 0.0}


def show(name: str, m: dict[str, float]) -> None:
    print(
        f"{name:<34} P={m['precision']:.3f} R={m['recall']:.3f} F1={m['f1']:.3f} FPR={m['fpr']:.3f}"
    )


def stratified_folds(rows: list[Row], k: int, seed: int) -> list[list[int]]:
    rng = random.Random(seed)
    folds: list[list[int]] = [[] for _ in range(k)]
    for label in (0, 1):
        idx = [i for i, r in enumerate(rows) if r.label == label]
        rng.shuffle(idx)
        for n, i in enumerate(idx):
            folds[n % k].append(i)
    return folds


def cross_validate(
    dev: list[Row], synth: list[Row], k: int, lam: float, min_df: int, seed: int
) -> list[float]:
    scores = [0.0] * len(dev)
    for fold in stratified_folds(dev, k, seed):
        held = set(fold)
        train = [r for i, r in enumerate(dev) if i not in held] + synth
        det = InjectionDetector(threshold=0.5, model=fit(train, lam, min_df))
        for i in fold:
            scores[i] = det.score(dev[i].text).score
    return scores


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--lam", type=float, default=1e-3, help="L2 strength of the shipped model")
    ap.add_argument("--sweep", type=float, nargs="*", default=[], help="extra L2 values to CV")
    ap.add_argument("--min-df", type=int, default=2)
    ap.add_argument("--write", action="store_true", help="write the package weights file")
    ap.add_argument("--skip-dev-cv", action="store_true", help="only fit (and write) the model")
    args = ap.parse_args()
    thr = DEFAULT_THRESHOLD

    if args.skip_dev_cv:
        return finish(args)
    dev, synth = load(DEV), load(SYNTHETIC)
    labels = [r.label for r in dev]
    print(f"dev rows {len(dev)} ({sum(labels)} attacks); synthetic rows {len(synth)}")

    heur = [max(w.offset for w in r.windows) for r in dev]
    show("heuristics only (logit>=2)", metrics(labels, heur, 2.0))

    # Out-of-distribution proxy: a model that never saw a dev row, scored on all of them.
    synth_only = InjectionDetector(threshold=thr, model=fit(synth, args.lam, args.min_df))
    oos = [synth_only.score(r.text).score for r in dev]
    show(f"synthetic-only model, all dev @{thr}", metrics(labels, oos, thr))

    for lam in sorted({args.lam, *args.sweep}):
        for seed in (7, 99):
            oof = cross_validate(dev, synth, args.folds, lam, args.min_df, seed=seed)
            for t in sorted({0.4, thr, 0.45, 0.5}):
                show(f"CV{args.folds} lam={lam:g} seed={seed} @{t}", metrics(labels, oof, t))
            if lam == args.lam:
                for src in sorted({r.source for r in dev}):
                    idx = [i for i, r in enumerate(dev) if r.source == src]
                    sub = metrics([labels[i] for i in idx], [oof[i] for i in idx], thr)
                    show(f"  {src[:32]}", sub)

    finish(args)


def finish(args: argparse.Namespace) -> None:
    broad = load(BROAD)
    model = fit(broad, args.lam, args.min_df)
    print(f"final model on {len(broad)} rows: {len(model.weights)} weights, bias {model.bias}")
    if args.write:
        payload = json.dumps(model.to_json(), sort_keys=True, separators=(",", ":")).encode()
        OUT.write_bytes(gzip.compress(payload, mtime=0))
        print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
