"""Per-cell means with 95% t intervals from run_gateway.sh results, and the paired ratios.

    python3 bench/ratio_ci.py bench/results/<RUN_ID> [--base pyproxy-aiohttp]
        [--before lockgate-before]

For each target and concurrency: CPU ms per request, RPS and P99 over the repeats (mean and
95% t interval, n = repeats).  For each lockgate target, the ratio base / target of CPU per
request and of RPS, paired by repeat (both ran back to back in the same repeat), and the
P99 ratio target / base, each as a mean with its 95% t interval.  With ``--before`` (a
target of the same run, e.g. ``lockgate-before`` from ``BEFORE=<commit>``): lockgate's CPU
per request, P99 and RPS minus that target's, paired by repeat (95% t intervals).
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path

T95 = {2: 12.71, 3: 4.30, 4: 3.18, 5: 2.78, 6: 2.57, 7: 2.45, 8: 2.36, 9: 2.31, 10: 2.26}


def ci(values: list[float]) -> str:
    mean = statistics.mean(values)
    if len(values) < 2:
        return f"{mean:.3f}"
    half = T95.get(len(values), 2.0) * statistics.stdev(values) / len(values) ** 0.5
    return f"{mean:.3f} ({mean - half:.3f}..{mean + half:.3f})"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run", type=Path)
    ap.add_argument("--base", default="pyproxy-aiohttp")
    ap.add_argument("--before", default="lockgate-before")
    a = ap.parse_args()
    runs = [json.loads(line) for line in (a.run / "runs.jsonl").read_text().splitlines()]
    runs = [r for r in runs if not r.get("discarded")]
    cell: dict[tuple[str, int, int], dict[str, float]] = {}
    for r in runs:
        cell[(r["target"], r["conc"], r["repeat"])] = r
    targets = sorted({t for t, _, _ in cell})
    concs = sorted({c for _, c, _ in cell})
    print(f"{a.run.name}: n = repeats per cell; mean (95% t CI)")
    print("| target | c | n | CPU ms/req | RPS | P99 ms |")
    print("|---|---|---|---|---|---|")
    for t in targets:
        for c in concs:
            rs = [v for (tt, cc, _), v in sorted(cell.items()) if tt == t and cc == c]
            if not rs:
                continue
            cpu = [r["target_cpu_ms_per_req"] for r in rs if r.get("target_cpu_ms_per_req")]
            line = f"| {t} | {c} | {len(rs)} | {ci(cpu) if cpu else '-'} |"
            print(f"{line} {ci([r['rps'] for r in rs])} | {ci([r['p99_us'] / 1000 for r in rs])} |")
    if any(t == a.before for t in targets):
        print(f"\n| c | n | lockgate - {a.before}, paired by repeat: CPU ms/req | P99 ms | RPS |")
        print("|---|---|---|---|---|")
        for c in concs:
            both = [
                (r, cell[(a.before, cc, rep)])
                for (tt, cc, rep), r in sorted(cell.items())
                if tt == "lockgate" and cc == c and (a.before, cc, rep) in cell
            ]
            if both:
                cpu = [r["target_cpu_ms_per_req"] - b["target_cpu_ms_per_req"] for r, b in both]
                p99 = [(r["p99_us"] - b["p99_us"]) / 1000 for r, b in both]
                rps = [r["rps"] - b["rps"] for r, b in both]
                print(f"| {c} | {len(both)} | {ci(cpu)} | {ci(p99)} | {ci(rps)} |")
    base = a.base if any(t == a.base for t in targets) else None
    if base is None:
        return
    print(f"\n| target | c | n | CPU ratio {base}/target | RPS ratio | P99 target/{base} |")
    print("|---|---|---|---|---|---|")
    for t in targets:
        if t in (base, "direct"):
            continue
        for c in concs:
            pairs: dict[str, list[float]] = defaultdict(list)
            for (tt, cc, rep), r in sorted(cell.items()):
                b = cell.get((base, cc, rep))
                if tt != t or cc != c or b is None:
                    continue
                pairs["cpu"].append(b["target_cpu_ms_per_req"] / r["target_cpu_ms_per_req"])
                pairs["rps"].append(r["rps"] / b["rps"])
                pairs["p99"].append(r["p99_us"] / b["p99_us"])
            if pairs:
                n = len(pairs["cpu"])
                print(
                    f"| {t} | {c} | {n} | {ci(pairs['cpu'])} | {ci(pairs['rps'])} |"
                    f" {ci(pairs['p99'])} |"
                )


if __name__ == "__main__":
    main()
