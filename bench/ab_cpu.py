"""A/B of lockgate builds by CPU time per request, live, alternating short wrk runs.

Each build (``NAME=SRC``: a ``src`` folder, e.g. from ``git archive <commit> src``) runs
as its own ``lockgate serve`` against the nginx mock (bench/harness, port 18181); wrk
runs alternate between them (order reversed every round) and each run's CPU is read
from /proc, so both builds see the same machine load.  Prints every run with the
1-minute load, medians, and with two builds the paired difference with a t 95% CI.

    python3 bench/ab_cpu.py --build new=/tmp/new/src --build old=/tmp/old/src \\
        [--stream] [--config full|core] [--runs 6] [--dur 5] [--conc 8]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENV = REPO / ".venv"
CLK = os.sysconf("SC_CLK_TCK")
#: two-sided 95% t quantiles by number of pairs (df = n - 1)
T95 = {2: 12.71, 3: 4.30, 4: 3.18, 5: 2.78, 6: 2.57, 7: 2.45, 8: 2.36, 9: 2.31, 10: 2.26}


def cpu_seconds(pid: int) -> float:
    stat = Path(f"/proc/{pid}/stat").read_text()
    rest = stat[stat.rindex(")") + 2 :].split()
    return (int(rest[11]) + int(rest[12])) / CLK


def wrk(home: Path, port: int, dur: int, conc: int, stream: bool) -> dict[str, float]:
    env = dict(os.environ, BENCH_MODEL="gpt-4o-mini-sse" if stream else "gpt-4o-mini")
    if stream:
        env["BENCH_STREAM"] = "1"
    cmd = ["wrk", "-t1", f"-c{conc}", f"-d{dur}s", "--latency", "-s", str(home / "wrk/chat.lua")]
    out = subprocess.run(
        [*cmd, f"http://127.0.0.1:{port}"], env=env, capture_output=True, text=True, check=True
    ).stdout
    result: dict[str, float] = json.loads(out.split("JSON:")[1].splitlines()[0])
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", action="append", required=True, help="NAME=SRC_DIR")
    ap.add_argument("--stream", action="store_true")
    ap.add_argument("--config", choices=["full", "core"], default="full")
    ap.add_argument("--runs", type=int, default=6)
    ap.add_argument("--dur", type=int, default=5)
    ap.add_argument("--conc", type=int, default=8)
    a = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="lockgate-ab."))
    shutil.copytree(REPO / "bench/harness", home, dirs_exist_ok=True)
    env = dict(os.environ, BENCH_HOME=str(home), PORT="18181")
    subprocess.run([str(home / "mock/start.sh")], env=env, check=True)
    name = "lockgate-full.yaml" if a.config == "full" else "lockgate.yaml"
    config = (REPO / "bench" / name).read_text().replace("18080", "18181")
    servers: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
    try:
        for i, spec in enumerate(a.build):
            label, src = spec.split("=", 1)
            data = Path(tempfile.mkdtemp(prefix=f"{label}.", dir=home))
            port = 16100 + i
            text = config.replace("${BENCH_HOME}", str(data))
            (data / "c.yaml").write_text(text.replace("port: 15000", f"port: {port}"))
            proc = subprocess.Popen(
                [str(VENV / "bin/python"), "-m", "lockgate", "serve", "-c", str(data / "c.yaml")],
                env=dict(os.environ, PYTHONPATH=src),
                cwd=data,
                stdout=(data / "log").open("wb"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            servers[label] = (proc, port)
        for _label, (_proc, port) in servers.items():
            for _ in range(300):
                health = f"http://127.0.0.1:{port}/health"
                if subprocess.run(["curl", "-fs", "-o", "/dev/null", health]).returncode == 0:
                    break
                time.sleep(0.1)
            wrk(home, port, 2, a.conc, a.stream)  # warm-up
        results: dict[str, list[float]] = {label: [] for label in servers}
        for r in range(a.runs):
            order = list(servers) if r % 2 == 0 else list(reversed(servers))
            for label in order:
                proc, port = servers[label]
                load = Path("/proc/loadavg").read_text().split()[0]
                before = cpu_seconds(proc.pid)
                run = wrk(home, port, a.dur, a.conc, a.stream)
                ms = (cpu_seconds(proc.pid) - before) * 1000 / max(run["requests"], 1)
                results[label].append(ms)
                errors = run["err_status"] + run["err_read"] + run["err_connect"]
                print(
                    f"{label:10s} run{r} rps={run['rps']:8.1f} p99={run['p99_us'] / 1000:6.1f}ms"
                    f" cpu={ms:.3f}ms/req errors={errors:.0f} load={load}",
                    flush=True,
                )
    finally:
        for proc, _port in servers.values():
            os.killpg(proc.pid, signal.SIGTERM)
        for proc, _port in servers.values():
            proc.wait(timeout=60)
        subprocess.run([str(home / "stop_pid.sh"), "nginx"], env=env, check=False)
    for label, values in results.items():
        runs = ", ".join(f"{v:.3f}" for v in values)
        print(f"{label}: median {statistics.median(values):.3f} ms/req (runs {runs})")
    if len(results) == 2:
        first, second = results.values()
        diffs = [x - y for x, y in zip(first, second, strict=True)]
        mean = statistics.mean(diffs)
        half = T95.get(len(diffs), 2.0) * statistics.stdev(diffs) / len(diffs) ** 0.5
        names = " - ".join(results)
        low, high, n = mean - half, mean + half, len(diffs)
        print(f"paired {names}: {mean:+.4f} ms/req, 95% CI {low:+.4f}..{high:+.4f} (n={n})")


if __name__ == "__main__":
    main()
