# ruff: noqa: E501  (report lines)
"""First-sight cost of an ONNX injection classifier (bench/finetune_injection.py export).

    .venv/bin/python bench/bench_injection_onnx.py /tmp/ft_onnx [data/dev/injection-dev.jsonl]

One ONNX Runtime session, one intra-op thread (a gateway worker's share), each text
tokenized (first 128 tokens) and scored once, in order, with nothing cached: per-text
wall and thread-CPU time, median and P99, for the fp32 and the int8 graph, and how far
the int8 probabilities move from the fp32 ones.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str]) -> None:
    import onnxruntime as ort
    from tokenizers import Tokenizer

    export = Path(argv[0])
    data = Path(argv[1]) if len(argv) > 1 else Path("/work/shared/data/injection-dev.jsonl")
    texts = [json.loads(x)["text"] for x in data.read_text().splitlines() if x.strip()]
    tok = Tokenizer.from_file(str(export / "tokenizer" / "tokenizer.json"))
    tok.enable_truncation(128)
    probs: dict[str, np.ndarray] = {}
    for name in ("fp32", "int8"):
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        sess = ort.InferenceSession(
            str(export / f"injection_minilm.{name}.onnx"), opts, providers=["CPUExecutionProvider"]
        )
        wall, cpu, out = [], [], []
        for t in texts:
            w0, c0 = time.perf_counter_ns(), time.thread_time_ns()
            enc = tok.encode(t)
            ids = np.asarray([enc.ids], dtype=np.int64)
            mask = np.asarray([enc.attention_mask], dtype=np.int64)
            logits = sess.run(None, {"input_ids": ids, "attention_mask": mask})[0][0]
            cpu.append((time.thread_time_ns() - c0) / 1e3)
            wall.append((time.perf_counter_ns() - w0) / 1e3)
            e = np.exp(logits - logits.max())
            out.append(e[1] / e.sum())
        probs[name] = np.asarray(out)
        w, c = np.asarray(wall), np.asarray(cpu)
        size = (export / f"injection_minilm.{name}.onnx").stat().st_size / 2**20
        print(
            f"{name}: {size:.1f} MiB; per text (first sight, 1 thread, n={len(texts)}): wall median "
            f"{np.median(w) / 1e3:.2f} ms, P99 {np.percentile(w, 99) / 1e3:.2f} ms; "
            f"cpu median {np.median(c) / 1e3:.2f} ms, P99 {np.percentile(c, 99) / 1e3:.2f} ms"
        )
    d = np.abs(probs["fp32"] - probs["int8"])
    print(f"int8 vs fp32 probability: mean |diff| {d.mean():.4f}, max {d.max():.4f}")


if __name__ == "__main__":
    main(sys.argv[1:])
