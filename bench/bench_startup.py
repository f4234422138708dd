"""Start-up time: from spawning `lockgate serve` (embedded defaults) to the first answered
chat request, and the RSS after it. Medians of --runs, for two cases:

* fresh: an empty data dir each run (the schema is created: Alembic runs);
* warm: the same data dir again (the schema is at head: one query, no Alembic), the
  common case of a restart, a rolling update or an autoscaled replica on a shared database.

    .venv/bin/python bench/bench_startup.py --runs 5
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def once(tmp: str) -> tuple[float, float]:
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LOCKGATE_", "OPENAI_", "ANTHROPIC_"))
    }
    t = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "lockgate", "serve", "--port", str(port)],
        cwd=tmp,
        env={**env, "XDG_DATA_HOME": tmp, "HOME": tmp},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        body = {"model": "mock", "messages": [{"role": "user", "content": "hi"}]}
        while True:
            try:
                r = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=body, timeout=1)
                if r.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.perf_counter() - t > 60:
                raise SystemExit("no answer within 60 s")
            time.sleep(0.01)
        elapsed = time.perf_counter() - t
        with open(f"/proc/{proc.pid}/status") as f:
            rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return elapsed, rss


def report(name: str, runs: list[tuple[float, float]]) -> None:
    times = [r[0] for r in runs]
    print(
        f"{name}: start-up to first answer median {statistics.median(times):.2f} s"
        f" (min {min(times):.2f}, max {max(times):.2f}, n={len(times)});"
        f" RSS after it median {statistics.median(r[1] for r in runs):.0f} MiB"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    n = ap.parse_args().runs
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    fresh = []
    for _ in range(n):
        with tempfile.TemporaryDirectory() as tmp:
            fresh.append(once(tmp))
    with tempfile.TemporaryDirectory() as tmp:
        once(tmp)  # creates the schema
        warm = [once(tmp) for _ in range(n)]
    report("fresh data dir", fresh)
    report("warm (schema at head)", warm)


if __name__ == "__main__":
    main()
