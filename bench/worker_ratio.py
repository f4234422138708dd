"""2-worker / 1-worker RPS ratios per repeat, with a 95% t interval, from a run_servers.sh run.

    python3 bench/worker_ratio.py bench/results/<RUN_ID>/runs.jsonl

Pairs ``lockgate-guarded2`` (and ``lockgate-guarded2-before``: another checkout's
``--workers 2``, STACKS=guarded2-before with BEFORE_SRC) with ``lockgate-guarded``, and
``pyproxy-w2`` with ``pyproxy-aiohttp`` (BARE_WORKERS=2) repeat by repeat (the harness
alternates the order of targets each repeat, so a pair shares the machine's load), and
prints each side's CPU split. Runs with the harness's per-process split (``cpu_procs``)
also get, per target, each process's CPU per request by its place in the session's tree
(supervisor, workers, writer children; nginx), and the ceiling of the 2-worker ratio on
this machine's cores: ``RPS2 <= cores / (c2 + w)`` with ``c2`` lockgate's CPU per request
at 2 workers (workers + writers), ``w`` wrk's + nginx's, and ``RPS1`` as measured.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import sys
from collections import defaultdict
from typing import Any

T95 = {1: 12.71, 2: 4.30, 3: 3.18, 4: 2.78, 5: 2.57, 6: 2.45, 7: 2.36, 8: 2.31, 9: 2.26}
PAIRS = [
    ("lockgate-guarded2", "lockgate-guarded"),
    ("lockgate-guarded2-before", "lockgate-guarded"),
    ("lockgate-guarded2", "lockgate-serve1"),
    ("lockgate-guarded2-before", "lockgate-serve1-before"),
    ("pyproxy-w2", "pyproxy-aiohttp"),
]


def ci(xs: list[float]) -> str:
    m = statistics.fmean(xs)
    if len(xs) < 2:
        return f"{m:.3f}"
    half = T95.get(len(xs) - 1, 2.0) * statistics.stdev(xs) / math.sqrt(len(xs))
    return f"{m:.3f} [{m - half:.3f}, {m + half:.3f}]"


def roles(procs: list[list[Any]]) -> dict[str, list[float]]:
    """Cores per process, grouped by depth below the session's root: for ``lockgate
    serve`` root = the gateway, 1 = its writer child; for ``--workers 2`` root = the
    supervisor, 1 = workers, 2 = their writer children; for nginx root = master."""
    by_pid = {p[0]: p for p in procs}
    out: dict[str, list[float]] = defaultdict(list)
    for pid, _ppid, name, cores in procs:
        depth, cur = 0, pid
        while by_pid[cur][1] in by_pid:
            cur = by_pid[cur][1]
            depth += 1
        out[f"{depth}:{name}"].append(cores)
    return out


def split(rows: list[dict[str, Any]]) -> None:
    """Median per process role of CPU ms per request (cores / RPS), per target run."""
    if not all(r.get("cpu_procs") for r in rows):
        return
    per: dict[str, list[float]] = defaultdict(list)
    for r in rows:
        for role, cores in roles(r["cpu_procs"]).items():
            for i, c in enumerate(sorted(cores, reverse=True)):
                per[f"{role}#{i}"].append(1000.0 * c / r["rps"])
    for role, ms in sorted(per.items()):
        print(f"    {role:28s} {ci(ms)} ms/req (n={len(ms)})")


def ceiling(one: list[dict[str, Any]], two: list[dict[str, Any]], cores: int) -> None:
    """Per repeat: cores / (c2 + w) / RPS1, c2 and w from the 2-worker run."""
    out = []
    for a, b in zip(one, two, strict=True):
        c2 = b["cpu_target_cores"] / b["rps"]
        w = (b["cpu_wrk_cores"] + b["cpu_nginx_cores"]) / b["rps"]
        out.append(cores / (c2 + w) / a["rps"])
    print(f"  ceiling {cores}/(c2 + w) / RPS1 per repeat: {ci(out)}")


def main() -> None:
    with open(sys.argv[1]) as f:
        runs = [json.loads(line) for line in f]
    by: dict[tuple[str, int], dict[str, Any]] = defaultdict(dict)
    for r in runs:
        if r.get("discarded"):
            continue
        by[(r["target"], r["repeat"])] = r
    for two, one in PAIRS:
        reps = sorted(k[1] for k in by if k[0] == two and (one, k[1]) in by)
        if not reps:
            continue
        ratios = [by[(two, i)]["rps"] / by[(one, i)]["rps"] for i in reps]
        print(f"{two} / {one}: n={len(ratios)} ratio mean {ci(ratios)}")
        print("  per repeat: " + ", ".join(f"{x:.2f}" for x in ratios))
        for name in (one, two):
            rows = [by[(name, i)] for i in reps]
            cols = ("rps", "cpu_target_cores", "cpu_wrk_cores", "cpu_nginx_cores")
            cols += ("cpu_foreign_cores", "target_cpu_ms_per_req")
            med = {c: statistics.median(float(r[c]) for r in rows) for c in cols}
            print(
                f"  {name:20s} RPS {med['rps']:7.0f}  target {med['cpu_target_cores']:.2f} cores"
                f"  wrk {med['cpu_wrk_cores']:.2f}  nginx {med['cpu_nginx_cores']:.2f}"
                f"  foreign {med['cpu_foreign_cores']:.2f}"
                f"  CPU {med['target_cpu_ms_per_req']:.3f} ms/req (medians)"
            )
            wn = [
                1000.0 * (float(r["cpu_wrk_cores"]) + float(r["cpu_nginx_cores"])) / r["rps"]
                for r in rows
            ]
            print(f"    wrk + nginx {ci(wn)} ms/req")
            split(rows)
        ceiling([by[(one, i)] for i in reps], [by[(two, i)] for i in reps], os.cpu_count() or 2)


if __name__ == "__main__":
    main()
