"""What the secret scan adds per text: the secret detectors alone, first sight, CPU time.

    flock /tmp/lockgate-bench.lock nice -n -10 env PYTHONPATH=src \\
        .venv/bin/python bench/bench_secret_scan.py [--rounds 5] [--set chat|credentials]

``PYTHONPATH=<other checkout>/src`` runs another build on the same texts (a before/after).
Texts: ``chat`` - the shared dev prompts and PII rows (/work/shared/data injection-dev and
pii-dev: ordinary requests, most with no secret); ``credentials`` - the rows of
tests/guards_pii/data/gitleaks_examples.jsonl (each one a secret or a near miss).
Each text is scanned by a ``PiiScanner`` holding only the secret types, ``rounds`` times
in an interleaved order; its cost is the least CPU time (``thread_time_ns``) over the
rounds, so that a preemption on the shared box does not count. The scanner keeps no
memo, so every scan is a first sight. Prints n, median, P99 and mean in microseconds,
with 95% bootstrap intervals (1,000 resamples of the texts), and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
from pathlib import Path

import lockgate
from lockgate.guards.pii import SECRET_TYPES, PiiScanner

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LOCKGATE_SHARED", "/work/shared/data"))


def texts(which: str) -> list[str]:
    if which == "credentials":
        path = ROOT / "tests" / "guards_pii" / "data" / "gitleaks_examples.jsonl"
        return [json.loads(x)["text"] for x in path.read_text().splitlines() if x]
    out: list[str] = []
    for name in ("injection-dev.jsonl", "pii-dev.jsonl"):
        out += [json.loads(x)["text"] for x in (SHARED / name).read_text().splitlines() if x]
    return out


def quantile(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def ci(values: list[float], stat: str, rng: random.Random) -> tuple[float, float]:
    f = {"median": statistics.median, "p99": lambda v: quantile(v, 0.99), "mean": statistics.fmean}[
        stat
    ]
    boots = sorted(f(rng.choices(values, k=len(values))) for _ in range(1000))
    return boots[25], boots[974]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--set", choices=("chat", "credentials"), default="chat")
    args = ap.parse_args()
    corpus = texts(args.set)
    scanner = PiiScanner(sorted(SECRET_TYPES))
    for t in corpus[:200]:  # warm the regex caches
        scanner.find(t)
    best = [float("inf")] * len(corpus)
    order = list(range(len(corpus)))
    rng = random.Random(8)
    for _ in range(args.rounds):
        rng.shuffle(order)
        for i in order:
            t0 = time.thread_time_ns()
            scanner.find(corpus[i])
            best[i] = min(best[i], (time.thread_time_ns() - t0) / 1000)
    print(f"lockgate from {Path(lockgate.__file__).parent}; set {args.set}; rounds {args.rounds}")
    print(f"n {len(best)} texts, mean length {statistics.fmean(map(len, corpus)):.0f} chars")
    for stat, value in (
        ("median", statistics.median(best)),
        ("p99", quantile(best, 0.99)),
        ("mean", statistics.fmean(best)),
    ):
        lo, hi = ci(best, stat, rng)
        print(f"  {stat:6} {value:8.1f} us  [{lo:.1f}, {hi:.1f}]")
    print(f"load average {os.getloadavg()[0]:.1f} {os.getloadavg()[1]:.1f}")


if __name__ == "__main__":
    main()
