"""CPU per call of InjectionDetector.score_data (the data channel) for two checkouts,
alternating, on the indirect rows of bench/data/injection_train.jsonl.gz.

    python bench/ab_injection_data.py NEW_SRC BASE_SRC [--pairs 5] [--rows 400]

Each side runs in its own interpreter (weights loaded outside the timing) and reports
process CPU microseconds per call over the same rows; prints the per-pair difference
with a 95% t interval.
"""

from __future__ import annotations

import argparse
import math
import statistics
import subprocess
import sys
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data" / "injection_train.jsonl.gz"
CHILD = """
import gzip, json, sys, time
from lockgate.guards.injection import InjectionDetector
rows = [json.loads(x) for x in gzip.open(sys.argv[1], "rt")]
texts = [r["text"] for r in rows if r.get("kind") == "indirect"][: int(sys.argv[2])]
d = InjectionDetector()
for t in texts[:20]:
    d.score_data(t)
t0 = time.process_time()
for t in texts:
    d.score_data(t)
print((time.process_time() - t0) / len(texts) * 1e6)
"""
T95 = {1: 12.71, 2: 4.30, 3: 3.18, 4: 2.78, 5: 2.57, 6: 2.45, 7: 2.36, 8: 2.31, 9: 2.26}


def run(src: str, rows: int) -> float:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(DATA), str(rows)],
        env={"PYTHONPATH": src, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("new")
    ap.add_argument("base")
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument("--rows", type=int, default=400)
    a = ap.parse_args()
    diffs = []
    for i in range(a.pairs):
        order = [a.new, a.base] if i % 2 == 0 else [a.base, a.new]
        got = {src: run(src, a.rows) for src in order}
        diffs.append(got[a.new] - got[a.base])
        print(f"pair {i}: new {got[a.new]:.1f} us/call, base {got[a.base]:.1f} us/call")
    m = statistics.fmean(diffs)
    half = T95.get(len(diffs) - 1, 2.0) * statistics.stdev(diffs) / math.sqrt(len(diffs))
    ci = f"95% CI [{m - half:+.1f}, {m + half:+.1f}]"
    print(f"new - base: {m:+.1f} us/call, {ci} (n={len(diffs)})")


if __name__ == "__main__":
    main()
