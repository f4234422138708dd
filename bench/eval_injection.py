"""Evaluate the shipped injection detector on a labelled JSONL file.

Each line needs ``text`` and ``label`` (1 = injection/jailbreak, 0 = benign). Prints
precision, recall, F1, false-positive rate and the scoring cost: microseconds per KB
(whole file, best of N passes) and per text (median, P99, max), all with the detector's
memo off so every pass pays first-sight cost (with it on, passes after the first only
hit the memo and report ~0.1 us); the single first pass is also reported on its own.
``--data`` scores rows as documents (``score_data``).
A .jsonl.gz file works too (bench/data/injection_train.jsonl.gz; ``--source`` filters).

    .venv/bin/python bench/eval_injection.py data/dev/injection-dev.jsonl
    ... --threshold 0.4 --show-errors 20
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from itertools import pairwise
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from lockgate.guards.injection import DEFAULT_THRESHOLD, InjectionDetector  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("path", type=Path)
    ap.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    ap.add_argument("--passes", type=int, default=3, help="timing passes; the best is kept")
    ap.add_argument("--show-errors", type=int, default=0, help="print up to N misses of each kind")
    ap.add_argument("--data", action="store_true", help="score rows as data (documents)")
    ap.add_argument("--source", default=None, help="only rows of this source")
    ap.add_argument("--kind", default=None, help="only rows of this kind (direct / indirect)")
    ap.add_argument(
        "--full-chars",
        type=int,
        default=None,
        help="data: characters of a document scored in full (default: the detector's; 0 = all)",
    )
    ap.add_argument(
        "--by-length",
        action="store_true",
        help="also print per-text median / P99 (best of the passes) by length band",
    )
    args = ap.parse_args()

    raw = (
        gzip.decompress(args.path.read_bytes()).decode("utf-8")
        if args.path.suffix == ".gz"
        else args.path.read_text(encoding="utf-8")
    )
    rows = [json.loads(line) for line in raw.split("\n") if line.strip()]
    if args.source:
        rows = [r for r in rows if r.get("source") == args.source]
    if args.kind:
        rows = [r for r in rows if r.get("kind", "direct") == args.kind]
    texts = [str(r["text"]) for r in rows]
    labels = [int(r["label"]) for r in rows]
    if args.full_chars is None:
        detector = InjectionDetector(threshold=args.threshold, memo=False)
    else:
        detector = InjectionDetector(
            threshold=args.threshold, memo=False, full_chars=args.full_chars or 1 << 30
        )
    score = detector.score_data if args.data else detector.score

    # First sight, strictly: one pass over texts this (fresh, memo-off) detector has never
    # scored, each timed once, before any pass below can warm anything text-specific.
    first_wall: list[float] = []
    first_cpu: list[float] = []
    for t in texts:
        w0, c0 = time.perf_counter_ns(), time.thread_time_ns()
        score(t)
        first_cpu.append((time.thread_time_ns() - c0) / 1e3)
        first_wall.append((time.perf_counter_ns() - w0) / 1e3)

    # The machine is shared: take the best of a few passes (wall clock) and also report
    # CPU time, which waiting for a core does not inflate.
    elapsed = cpu = float("inf")
    verdicts = []
    for _ in range(args.passes):
        start, start_cpu = time.perf_counter(), time.process_time()
        verdicts = [score(t) for t in texts]
        elapsed = min(elapsed, time.perf_counter() - start)
        cpu = min(cpu, time.process_time() - start_cpu)
    kb = sum(len(t.encode("utf-8")) for t in texts) / 1024
    # Per text, wall clock and this thread's CPU time (the latter is not inflated by
    # waiting for a core on a shared machine); best of the passes for each text.
    per_wall = [float("inf")] * len(texts)
    per_cpu = [float("inf")] * len(texts)
    for _ in range(args.passes):
        for i, t in enumerate(texts):
            w0, c0 = time.perf_counter_ns(), time.thread_time_ns()
            score(t)
            per_cpu[i] = min(per_cpu[i], (time.thread_time_ns() - c0) / 1e3)
            per_wall[i] = min(per_wall[i], (time.perf_counter_ns() - w0) / 1e3)

    def pct(values: list[float], q: float) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(len(ordered) * q))]

    tp = sum(1 for v, y in zip(verdicts, labels, strict=True) if y and v.flagged)
    fp = sum(1 for v, y in zip(verdicts, labels, strict=True) if not y and v.flagged)
    pos = sum(labels)
    neg = len(labels) - pos
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / pos if pos else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    fpr = fp / neg if neg else 0.0
    print(f"rows {len(rows)} (attacks {pos}, benign {neg}), threshold {args.threshold}")
    print(f"precision {precision:.3f}  recall {recall:.3f}  F1 {f1:.3f}  FPR {fpr:.3f}")
    print(
        f"cost {elapsed * 1e6 / kb:.1f} us/KB wall, {cpu * 1e6 / kb:.1f} us/KB cpu,"
        f" over {kb:.1f} KB"
        f" ({elapsed * 1e6 / len(rows):.1f} us/row, best of {args.passes} passes)"
    )
    print(
        f"per text (memo off, best of {args.passes}): wall median {pct(per_wall, 0.5):.0f} us,"
        f" P99 {pct(per_wall, 0.99):.0f} us, max {max(per_wall):.0f} us; cpu median"
        f" {pct(per_cpu, 0.5):.0f} us, P99 {pct(per_cpu, 0.99):.0f} us, max {max(per_cpu):.0f} us;"
        f" n={len(texts)}, median length {sorted(map(len, texts))[len(texts) // 2]} chars"
    )

    print(
        f"per text, first sight (one pass, memo off): wall median {pct(first_wall, 0.5):.0f} us,"
        f" P99 {pct(first_wall, 0.99):.0f} us; cpu median {pct(first_cpu, 0.5):.0f} us,"
        f" P99 {pct(first_cpu, 0.99):.0f} us, max {max(first_cpu):.0f} us"
    )

    if args.by_length:
        bands = (0, 500, 1000, 2000, 4000, 8000, 1 << 30)
        for lo, hi in pairwise(bands):
            idx = [i for i, t in enumerate(texts) if lo <= len(t) < hi]
            if not idx:
                continue
            w = [per_wall[i] for i in idx]
            c = [per_cpu[i] for i in idx]
            top = "" if hi == 1 << 30 else f"{hi}"
            print(
                f"  length {lo}-{top} chars: n={len(idx)}  wall median {pct(w, 0.5):.0f} us,"
                f" P99 {pct(w, 0.99):.0f} us, max {max(w):.0f} us;"
                f" cpu median {pct(c, 0.5):.0f} us, P99 {pct(c, 0.99):.0f} us"
            )

    if args.show_errors:
        misses = [
            (v, t) for v, t, y in zip(verdicts, texts, labels, strict=True) if y and not v.flagged
        ]
        false_alarms = [
            (v, t) for v, t, y in zip(verdicts, texts, labels, strict=True) if not y and v.flagged
        ]
        for kind, items in (("MISS", misses), ("FALSE ALARM", false_alarms)):
            for v, t in items[: args.show_errors]:
                print(f"{kind} {v.score:.2f} {v.reasons} {t[:140]!r}")


if __name__ == "__main__":
    main()
