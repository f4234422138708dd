"""Wall time of ``lockgate`` CLI commands, each a fresh process (import cost included).

    nice -n 10 .venv/bin/python bench/bench_cli_startup.py --runs 15

Runs each command ``--runs`` times in a scratch directory (its own config and SQLite
database, created once before timing) and prints the median and a bootstrap 95% CI of
the median, of wall time and of CPU time (user + system of the child, which a busy
shared machine inflates less than wall time).  Also prints ``python -X importtime``'s
five heaviest imports of ``lockgate --help``, to trace a slow start to its module.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LOCKGATE = Path(sys.executable).with_name("lockgate")

COMMANDS: dict[str, list[str]] = {
    "--help": ["--help"],
    "--version": ["--version"],
    "keys list": ["keys", "list"],
    "check-config": ["check-config", "lockgate.yaml"],
    "usage report": ["usage", "report"],
}


def _median_ci(samples: list[float], rng: random.Random, n: int = 2000) -> tuple[float, float]:
    medians = sorted(statistics.median(rng.choices(samples, k=len(samples))) for _ in range(n))
    return medians[int(0.025 * n)], medians[int(0.975 * n) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    rng = random.Random(0)
    work = Path(tempfile.mkdtemp(prefix="lockgate-cli-bench-"))
    try:
        (work / "lockgate.yaml").write_text(
            "model_list:\n  - model_name: mock\n    params: {model: mock/mock-1}\n"
            f"general_settings:\n  database_url: sqlite+aiosqlite:///{work}/cli.db\n"
        )
        env = {**os.environ, "LOCKGATE_CONFIG": str(work / "lockgate.yaml")}
        # Create the database (migrations) once, outside the timings.
        subprocess.run([str(LOCKGATE), "keys", "list"], cwd=work, env=env, capture_output=True)
        print("| command | wall median s | 95% CI | CPU median s | 95% CI | runs |")
        print("|---|---|---|---|---|---|")
        for name, argv in COMMANDS.items():
            samples, cpu = [], []
            for _ in range(args.runs):
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                start = time.perf_counter()
                subprocess.run([str(LOCKGATE), *argv], cwd=work, env=env, capture_output=True)
                samples.append(time.perf_counter() - start)
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
            lo, hi = _median_ci(samples, rng)
            clo, chi = _median_ci(cpu, rng)
            print(
                f"| `lockgate {name}` | {statistics.median(samples):.3f} | {lo:.3f}-{hi:.3f} "
                f"| {statistics.median(cpu):.3f} | {clo:.3f}-{chi:.3f} | {args.runs} |"
            )
        out = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "lockgate", "--help"],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
        ).stderr
        rows = []
        for line in out.splitlines():
            if line.startswith("import time:") and "|" in line:
                parts = line.split("|")
                try:
                    rows.append((int(parts[1].strip()), parts[2].rstrip()))
                except ValueError:
                    continue
        print("\nheaviest imports of `lockgate --help` (cumulative µs):")
        for cum, mod in sorted(rows, reverse=True)[:5]:
            print(f"  {cum:>9} {mod}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
