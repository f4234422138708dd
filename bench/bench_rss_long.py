"""Resident memory of a live ``lockgate serve`` over many requests (issue #18: memory flat).

Starts the nginx mock and ``lockgate serve -c CONFIG`` (every default on:
bench/lockgate-full.yaml) on ports of its own, drives it with wrk in chunks of
``--chunk`` seconds until ``--requests`` answers (or ``--max-seconds``), and after every
chunk records the server's RSS (total and anonymous), the requests so far and every
``lockgate_memory_entries`` / ``lockgate_memory_bytes`` series from /metrics: one JSON
line per sample in ``--out``, and a table on stdout.  ``--script distinct`` (default) makes
every request distinct (prompt and ``user``), so memos and caches fill to their bounds.

    python3 bench/bench_rss_long.py --requests 1000000 --out /tmp/rss-long.jsonl

The growth after warm-up is the last sample's RSS minus the first sample's at or after
``--warmup`` requests.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
KEY = "sk-bench-local-0001"


def status_kib(pid: int) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
            out[name] = int(value.split()[0])
    return out


def memory_series(url: str) -> dict[str, float]:
    req = urllib.request.Request(url + "/metrics", headers={"Authorization": f"Bearer {KEY}"})
    text = urllib.request.urlopen(req, timeout=10).read().decode()
    out: dict[str, float] = {}
    for m in re.finditer(r'^lockgate_memory_(entries|bytes)\{cache="([^"]+)"\} (\S+)$', text, re.M):
        out[f"{m.group(2)}.{m.group(1)}"] = float(m.group(3))
    return out


def wait_health(url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url + "/health", timeout=2)
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer /health within {seconds} s")


def stop(server: subprocess.Popen[bytes], home: Path, env: dict[str, str]) -> None:
    """End the server's session (SIGTERM, then SIGKILL after 60 s) and the nginx mock."""
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
    subprocess.run([str(home / "stop_pid.sh"), "nginx"], env=env, check=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--config", default=str(REPO / "bench" / "lockgate-full.yaml"))
    ap.add_argument("--requests", type=int, default=1_000_000)
    ap.add_argument("--max-seconds", type=float, default=1500)
    ap.add_argument("--chunk", type=int, default=30, help="seconds of wrk between samples")
    ap.add_argument("--conc", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=50_000, help="requests counted as warm-up")
    ap.add_argument("--script", choices=["distinct", "same"], default="distinct")
    ap.add_argument("--port", type=int, default=15300)
    ap.add_argument("--mock-port", type=int, default=18380)
    ap.add_argument("--out", default="/tmp/lockgate-rss-long.jsonl")
    a = ap.parse_args()

    home = Path(tempfile.mkdtemp(prefix="lockgate-rss-long."))
    shutil.copytree(REPO / "bench" / "harness", home, dirs_exist_ok=True)
    env = {**os.environ, "BENCH_HOME": str(home), "PORT": str(a.mock_port)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # a deployment has bytecode caches
    subprocess.run([str(home / "mock" / "start.sh")], env=env, check=True)
    config = home / "lockgate.yaml"
    text = Path(a.config).read_text().replace("127.0.0.1:18080", f"127.0.0.1:{a.mock_port}")
    config.write_text(text)
    log = (home / "lockgate.log").open("ab")
    server = subprocess.Popen(
        [sys.executable, "-m", "lockgate", "serve", "-c", str(config), "--port", str(a.port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{a.port}"
    script = (
        REPO
        / "bench"
        / "wrk"
        / ("chat_distinct.lua" if a.script == "distinct" else "chat_deterministic.lua")
    )
    samples: list[dict[str, Any]] = []
    total = 0
    started = time.monotonic()
    try:
        wait_health(url, 120)
        time.sleep(2)
        with open(a.out, "w") as out:

            def sample(rps: float, p99_ms: float, errors: int) -> None:
                row: dict[str, Any] = {
                    "t": round(time.monotonic() - started, 1),
                    "requests": total,
                    "rps": rps,
                    "p99_ms": p99_ms,
                    "errors": errors,
                    **status_kib(server.pid),
                    "caches": memory_series(url),
                    "load1": os.getloadavg()[0],
                }
                samples.append(row)
                out.write(json.dumps(row) + "\n")
                out.flush()
                caches = row["caches"]
                queues = caches.get("usage_queue.entries", 0) + caches.get("audit_queue.entries", 0)
                print(
                    f"{row['t']:7.0f}s {total:9d} req  RSS {row['VmRSS'] / 1024:6.1f} MiB"
                    f"  anon {row['RssAnon'] / 1024:6.1f}  {rps:7.0f} rps  p99 {p99_ms:6.1f} ms"
                    f"  queues {queues:6.0f}  errors {errors}  load {row['load1']:.1f}",
                    flush=True,
                )

            sample(0.0, 0.0, 0)
            while total < a.requests and time.monotonic() - started < a.max_seconds:
                left = a.max_seconds - (time.monotonic() - started)
                secs = max(1, min(a.chunk, int(left)))
                run = subprocess.run(
                    ["wrk", "-t2", f"-c{a.conc}", f"-d{secs}s", "-s", str(script), url],
                    capture_output=True,
                    text=True,
                    env={**os.environ, "BENCH_KEY": KEY},
                    timeout=secs + 60,
                )
                line = next(ln for ln in run.stdout.splitlines() if ln.startswith("JSON:"))
                got = json.loads(line[5:])
                total += got["requests"]
                errors = sum(v for k, v in got.items() if k.startswith("err_"))
                sample(got["rps"], got.get("p99_us", 0) / 1000, errors)
            time.sleep(5)  # writers drain
            sample(0.0, 0.0, 0)
    finally:
        stop(server, home, env)
        log.close()
    warm = next((s for s in samples if int(s["requests"]) >= a.warmup), None)
    if warm is not None:
        last = samples[-1]
        grow = (int(last["VmRSS"]) - int(warm["VmRSS"])) / 1024
        print(
            f"RSS after warm-up ({warm['requests']} requests) {int(warm['VmRSS']) / 1024:.1f} MiB;"
            f" at the end ({last['requests']} requests) {int(last['VmRSS']) / 1024:.1f} MiB:"
            f" growth {grow:+.1f} MiB; peak (VmHWM) {int(last['VmHWM']) / 1024:.1f} MiB"
        )
    print(f"samples: {a.out}; server log: {home / 'lockgate.log'}", file=sys.stderr)


if __name__ == "__main__":
    main()
