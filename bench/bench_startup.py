"""Start-up and idle memory of `lockgate serve` on embedded defaults, with the bare proxy's
RSS in the same run.

Each run spawns `lockgate serve` (no config: embedded defaults, the mock model) and times
the first answered chat request; then it reads the server's RSS (VmRSS, and its anonymous
and file-backed parts) right after that answer and again after ``--settle`` idle seconds,
and the process's CPU time up to the answer (user + system, children included: the
first start's migration child), which the machine's load distorts much less than the
wall clock.  Two cases:

* fresh: an empty data dir each run (the schema is created);
* warm: the same data dir again (the schema is at head: one query, no Alembic), the
  common case of a restart, a rolling update or an autoscaled replica on a shared database.

The bare proxy (bench/harness/pyproxy: Starlette + uvicorn with uvloop/httptools + one
aiohttp client session, no JSON, no auth, no logging) is started the same way, answers
one request forwarded to a lockgate of the same run, and its RSS is read the same way.
``--compare PATH`` also runs another checkout's ``src`` (PYTHONPATH) alternately with
this one, so before/after share the machine's load.  PYTHONDONTWRITEBYTECODE is dropped
from the servers' environment: as in a deployment, modules load from their bytecode
caches (the first, untimed run writes them) instead of being compiled on every start.

    .venv/bin/python bench/bench_startup.py --runs 7
    .venv/bin/python bench/bench_startup.py --runs 7 --compare /tmp/before/src
"""

from __future__ import annotations

import argparse
import math
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
PYPROXY = REPO / "bench" / "harness" / "pyproxy"
BODY = {"model": "mock", "messages": [{"role": "user", "content": "hi"}]}
TICK = os.sysconf("SC_CLK_TCK")
UVICORN_FLAGS = ("--loop", "uvloop", "--http", "httptools", "--no-access-log")
UVICORN_FLAGS += ("--log-level", "warning")


@dataclass
class Sample:
    seconds: float  # spawn to first answered request
    cpu: float  # process CPU seconds (user + system, waited-for children) at that answer
    rss: float  # MiB right after the answer
    rss_idle: float  # MiB after --settle idle seconds
    anon: float
    file: float


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _status(pid: int) -> dict[str, float]:
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile"):
                out[key] = int(value.split()[0]) / 1024
    return out


def _cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # utime, stime, cutime, cstime are fields 14-17 (1-based) of the whole line
    return sum(int(x) for x in fields[11:15]) / TICK


def _clean_env(tmp: str, pythonpath: str | None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LOCKGATE_", "OPENAI_", "ANTHROPIC_"))
        and k not in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE")
    }
    env.update(XDG_DATA_HOME=tmp, HOME=tmp)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    return env


def _first_answer(url: str, t0: float, proc: subprocess.Popen[bytes]) -> float:
    while True:
        try:
            r = httpx.post(f"{url}/v1/chat/completions", json=BODY, timeout=2)
            if r.status_code == 200:
                return time.perf_counter() - t0
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        if time.perf_counter() - t0 > 60:
            raise SystemExit("no answer within 60 s")
        time.sleep(0.005)


def _measure(proc: subprocess.Popen[bytes], url: str, t0: float, settle: float) -> Sample:
    elapsed = _first_answer(url, t0, proc)
    cpu = _cpu(proc.pid)
    now = _status(proc.pid)
    time.sleep(settle)
    idle = _status(proc.pid)
    return Sample(elapsed, cpu, now["VmRSS"], idle["VmRSS"], idle["RssAnon"], idle["RssFile"])


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.kill()  # no drain: the next run starts sooner
    proc.wait(timeout=30)


def _spawn_lockgate(home: str, port: int, pythonpath: str | None) -> subprocess.Popen[bytes]:
    """`lockgate serve` on embedded defaults, with ``home`` as its data dir and cwd."""
    return subprocess.Popen(
        [sys.executable, "-m", "lockgate", "serve", "--port", str(port)],
        cwd=home,
        env=_clean_env(home, pythonpath),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def lockgate_once(tmp: str, settle: float, pythonpath: str | None) -> Sample:
    port = free_port()
    t0 = time.perf_counter()
    proc = _spawn_lockgate(tmp, port, pythonpath)
    try:
        return _measure(proc, f"http://127.0.0.1:{port}", t0, settle)
    finally:
        _stop(proc)


def bare_once(upstream: str, settle: float) -> Sample:
    port = free_port()
    uvicorn = Path(sys.executable).parent / "uvicorn"
    env = {**_clean_env(tempfile.gettempdir(), None), "CLIENT": "aiohttp", "UPSTREAM": upstream}
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [str(uvicorn), "app:app", "--host", "127.0.0.1", "--port", str(port), *UVICORN_FLAGS],
        cwd=PYPROXY,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        return _measure(proc, f"http://127.0.0.1:{port}", t0, settle)
    finally:
        _stop(proc)


def _ci(xs: list[float]) -> str:
    """Mean with a 95% t interval (normal approximation past 30 samples)."""
    n = len(xs)
    mean = statistics.fmean(xs)
    if n < 2:
        return f"{mean:.2f}"
    t = {2: 12.71, 3: 4.30, 4: 3.18, 5: 2.78, 6: 2.57, 7: 2.45, 8: 2.36, 9: 2.31, 10: 2.26}
    half = t.get(n, 2.0) * statistics.stdev(xs) / math.sqrt(n)
    return f"{mean:.2f} ± {half:.2f}"


def report(name: str, runs: list[Sample]) -> None:
    secs = [r.seconds for r in runs]
    print(
        f"{name:28s} n={len(runs)}: first answer median {statistics.median(secs):.2f} s"
        f" (min {min(secs):.2f}, max {max(secs):.2f}; mean {_ci(secs)});"
        f" CPU to it median {statistics.median(r.cpu for r in runs):.2f} s;"
        f" RSS after it {statistics.median(r.rss for r in runs):.1f} MiB,"
        f" idle {statistics.median(r.rss_idle for r in runs):.1f} MiB"
        f" (mean {_ci([r.rss_idle for r in runs])};"
        f" anon {statistics.median(r.anon for r in runs):.1f},"
        f" file {statistics.median(r.file for r in runs):.1f})"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--settle", type=float, default=2.0, help="idle seconds before idle RSS")
    ap.add_argument("--compare", help="another checkout's src directory, run alternately")
    args = ap.parse_args()
    builds: list[tuple[str, str | None]] = [("this", None)]
    if args.compare:
        builds.append((f"compare ({args.compare})", str(Path(args.compare).resolve())))
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    fresh: dict[str, list[Sample]] = {name: [] for name, _ in builds}
    warm: dict[str, list[Sample]] = {name: [] for name, _ in builds}
    bare: list[Sample] = []
    homes = {name: tempfile.mkdtemp(prefix="lockgate-startup-") for name, _ in builds}
    try:
        for name, path in builds:
            lockgate_once(homes[name], 0, path)  # creates the schema of the warm case
        for _ in range(args.runs):
            for name, path in builds:
                with tempfile.TemporaryDirectory() as tmp:
                    fresh[name].append(lockgate_once(tmp, args.settle, path))
                warm[name].append(lockgate_once(homes[name], args.settle, path))
            # the bare proxy forwards its one request to a lockgate of this run
            with tempfile.TemporaryDirectory() as tmp:
                port = free_port()
                upstream = _spawn_lockgate(tmp, port, None)
                try:
                    _first_answer(f"http://127.0.0.1:{port}", time.perf_counter(), upstream)
                    bare.append(bare_once(f"http://127.0.0.1:{port}", args.settle))
                finally:
                    _stop(upstream)
    finally:
        for home in homes.values():
            subprocess.run(["rm", "-rf", home], check=False)
    for name, _ in builds:
        report(f"{name}: fresh data dir", fresh[name])
        report(f"{name}: warm (schema at head)", warm[name])
    report("bare proxy", bare)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
