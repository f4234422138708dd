# ruff: noqa: E501  (report lines)
"""What the data channel's cheap first look at long documents costs in recall, and saves.

    PYTHONPATH=src nice -n 19 .venv/bin/python bench/eval_injection_prefilter.py [--lengths 2000 4000 8000]

A document of more than ``full_chars`` characters is first read cheaply and only
its most instruction-like pieces (up to that many characters) are scored in full (``InjectionDetector
._worth_scoring``). Long injected documents are rare in the training rows, so this
builds them: every injected document of the third-party data sources
(bench/data/injection_train.jsonl.gz, ``kind: indirect``, label 1, not the generated
``synth-indirect``) is put, whole, at a random paragraph boundary inside benign
documents of the same file (py-docs, pkg-readmes, stdlib-docs, LLMBar answers) until
the text reaches the target length; the same benign filler alone makes a benign long
document. Each is scored with every piece in full and with the first look, and the
verdicts are compared at the data threshold (Wilson 95% intervals). CPU time per
document is the best of ``--passes``.

    ... --timing agentdojo llmbar [--passes 6]

times the training file's own documents of those sources instead: both detectors in one
process, alternating which goes first on each document, best of ``--passes`` CPU times,
median and P99 per length band.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from lockgate.guards.config import IndirectInjectionSettings  # noqa: E402
from lockgate.guards.injection._detector import InjectionDetector  # noqa: E402

DATA = ROOT / "bench" / "data" / "injection_train.jsonl.gz"
FILLER_SOURCES = ("py-docs", "pkg-readmes", "stdlib-docs", "llmbar")


def wilson(k: int, n: int) -> tuple[float, float]:
    if n == 0:
        return (0.0, 0.0)
    z, p = 1.96, k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return (max(0.0, c - h), min(1.0, c + h))


def long_docs(rows: list[dict[str, object]], length: int, seed: int) -> list[tuple[str, int]]:
    rng = random.Random(seed)
    filler = [
        str(r["text"])
        for r in rows
        if r["source"] in FILLER_SOURCES and not r["label"] and r["kind"] == "indirect"
    ]
    attacks = [
        str(r["text"])
        for r in rows
        if r["kind"] == "indirect" and r["label"] and r["source"] != "synth-indirect"
    ]
    out: list[tuple[str, int]] = []
    for attack in attacks:
        paras: list[str] = []
        while sum(map(len, paras)) < length - len(attack):
            paras.append(rng.choice(filler))
        benign = "\n\n".join(paras)
        paras.insert(rng.randrange(len(paras) + 1), attack)
        out.append(("\n\n".join(paras), 1))
        out.append((benign, 0))
    return out


def cpu_us(det: InjectionDetector, text: str, passes: int) -> float:
    best = float("inf")
    for _ in range(passes):
        c0 = time.thread_time_ns()
        det.score_data(text)
        best = min(best, (time.thread_time_ns() - c0) / 1e3)
    return best


def _q(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def timing(rows: list[dict[str, object]], sources: list[str], passes: int) -> None:
    first = InjectionDetector(memo=False)
    every = InjectionDetector(memo=False, full_chars=1 << 30)
    for source in sources:
        docs = [str(r["text"]) for r in rows if r["source"] == source and r["kind"] == "indirect"]
        t_first = [float("inf")] * len(docs)
        t_every = [float("inf")] * len(docs)
        for n in range(passes):
            for i, doc in enumerate(docs):
                pair = ((first, t_first), (every, t_every))
                for det, times in pair if n % 2 else pair[::-1]:
                    c0 = time.thread_time_ns()
                    det.score_data(doc)
                    times[i] = min(times[i], (time.thread_time_ns() - c0) / 1e3)
        bands = ((0, 500), (500, 1000), (1000, 2000), (2000, 4000), (4000, 1 << 30))
        print(f"{source}: n={len(docs)}, CPU us per document, every piece / first look")
        for lo, hi in ((0, 1 << 30), *bands):
            idx = [i for i, d in enumerate(docs) if lo <= len(d) < hi]
            if idx:
                e, f = [t_every[i] for i in idx], [t_first[i] for i in idx]
                print(
                    f"  {lo}-{hi if hi < 1 << 30 else ''} chars n={len(idx)}: median {_q(e, 0.5):.0f} / "
                    f"{_q(f, 0.5):.0f}, P99 {_q(e, 0.99):.0f} / {_q(f, 0.99):.0f}, max {max(e):.0f} / {max(f):.0f}"
                )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lengths", type=int, nargs="*", default=[2000, 4000, 8000])
    ap.add_argument("--threshold", type=float, default=IndirectInjectionSettings().threshold)
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--seed", type=int, default=8)
    ap.add_argument("--timing", nargs="*", default=None, help="time these sources' documents")
    args = ap.parse_args()
    with gzip.open(DATA, "rt") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    if args.timing:
        timing(rows, args.timing, args.passes)
        return
    full = InjectionDetector(memo=False, full_chars=1 << 30)
    pruned = InjectionDetector(memo=False)
    thr = args.threshold
    for length in args.lengths:
        docs = long_docs(rows, length, args.seed + length)
        agree = kf = kp = pos = fa_f = fa_p = neg = 0
        t_full: list[float] = []
        t_pruned: list[float] = []
        for text, label in docs:
            a = full.score_data(text).score >= thr
            b = pruned.score_data(text).score >= thr
            agree += a == b
            if label:
                pos += 1
                kf += a
                kp += b
            else:
                neg += 1
                fa_f += a
                fa_p += b
            t_full.append(cpu_us(full, text, args.passes))
            t_pruned.append(cpu_us(pruned, text, args.passes))
        t_full.sort()
        t_pruned.sort()

        def q(v: list[float], p: float) -> float:
            return v[min(len(v) - 1, int(len(v) * p))]

        lo, hi = wilson(agree, len(docs))
        print(
            f"~{length} chars (n={len(docs)}: {pos} injected, {neg} benign; threshold {thr}): "
            f"same verdict {agree}/{len(docs)} [{lo:.3f}, {hi:.3f}]; "
            f"recall full {kf}/{pos} = {kf / pos:.3f} [{wilson(kf, pos)[0]:.3f}, {wilson(kf, pos)[1]:.3f}], "
            f"first look {kp}/{pos} = {kp / pos:.3f} [{wilson(kp, pos)[0]:.3f}, {wilson(kp, pos)[1]:.3f}]; "
            f"benign flagged full {fa_f}/{neg}, first look {fa_p}/{neg}; "
            f"CPU per document full median {q(t_full, 0.5):.0f} us P99 {q(t_full, 0.99):.0f} us, "
            f"first look median {q(t_pruned, 0.5):.0f} us P99 {q(t_pruned, 0.99):.0f} us",
            flush=True,
        )


if __name__ == "__main__":
    main()
