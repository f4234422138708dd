"""Start-up time: from spawning `lockgate serve` (embedded defaults, a fresh data dir) to
the first answered chat request, and the idle RSS after it. Medians of --runs.

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


def once() -> tuple[float, float]:
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
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
                    r = httpx.post(
                        f"http://127.0.0.1:{port}/v1/chat/completions", json=body, timeout=1
                    )
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    runs = [once() for _ in range(ap.parse_args().runs)]
    times = [r[0] for r in runs]
    print(
        f"start-up to first answer: median {statistics.median(times):.2f} s"
        f" (min {min(times):.2f}, max {max(times):.2f}, n={len(times)})"
    )
    print(f"RSS after the first answer: median {statistics.median(r[1] for r in runs):.0f} MiB")


if __name__ == "__main__":
    main()
