"""How evenly ``lockgate serve --workers 2`` (or the bare proxy under uvicorn --workers 2)
shares wrk's keep-alive connections and the CPU between its workers (issue #18: workers).

Starts the nginx mock and the server on ports of its own, then ``--runs`` times: wrk with
``--conc`` connections for ``--seconds``; halfway through, which worker holds each
established connection (``ss -tnp``); over the run, each worker's CPU seconds (/proc).
A worker holding most connections is a worker doing most of the work: with a shared
listening socket whichever worker wakes first accepts a burst of connects, and keep-alive
keeps them there for the whole run.  ``--env UV_TCP_SINGLE_ACCEPT=1`` (libuv: accept one
connection per wake-up) or any other variable is passed to the server for an A/B.

    python3 bench/worker_balance.py --target lockgate --runs 5
    python3 bench/worker_balance.py --target bare --runs 5 --env UV_TCP_SINGLE_ACCEPT=1

Run it under ``flock /tmp/lockgate-bench.lock setsid nice -n -10 ... --autogroup-nice -10``
like any timed benchmark.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench_rss_long import stop, wait_health  # bench/ is on sys.path when run as a script

REPO = Path(__file__).resolve().parent.parent
TICK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        out.extend(int(x) for x in text)
    return sorted(out)


def cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def connections(port: int) -> dict[int, int]:
    """Established connections on ``port`` by the pid holding them."""
    out = subprocess.run(
        ["ss", "-tnpH", "state", "established", f"( sport = :{port} )"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    held: dict[int, int] = {}
    for m in re.finditer(r"pid=(\d+)", out):
        pid = int(m.group(1))
        held[pid] = held.get(pid, 0) + 1
    return held


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--target", choices=["lockgate", "bare"], default="lockgate")
    ap.add_argument("--config", default=str(REPO / "bench" / "lockgate.yaml"))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--conc", type=int, default=32)
    ap.add_argument("--env", action="append", default=[], help="NAME=VALUE for the server")
    ap.add_argument(
        "--autogroup-nice",
        type=int,
        help="autogroup nice of the server's, nginx's and this script's sessions (run it under"
        " setsid): with autogroups on, `nice` does not order processes of other sessions",
    )
    a = ap.parse_args()

    home = Path(tempfile.mkdtemp(prefix="lockgate-balance."))
    shutil.copytree(REPO / "bench" / "harness", home, dirs_exist_ok=True)
    mock_port, port = free_port(), free_port()
    env = {**os.environ, "BENCH_HOME": str(home), "PORT": str(mock_port)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run([str(home / "mock" / "start.sh")], env=env, check=True)
    server_env = {**env, **dict(kv.split("=", 1) for kv in a.env)}
    if a.target == "lockgate":
        config = home / "lockgate.yaml"
        text = Path(a.config).read_text().replace("127.0.0.1:18080", f"127.0.0.1:{mock_port}")
        config.write_text(text)
        argv = [sys.executable, "-m", "lockgate", "serve", "-c", str(config)]
        argv += ["--port", str(port), "--workers", "2"]
        cwd = home
    else:
        server_env.update(CLIENT="aiohttp", UPSTREAM=f"http://127.0.0.1:{mock_port}")
        argv = [str(Path(sys.executable).parent / "uvicorn"), "app:app", "--port", str(port)]
        argv += ["--workers", "2", "--loop", "uvloop", "--http", "httptools"]
        argv += ["--no-access-log", "--log-level", "warning"]
        cwd = home / "pyproxy"
    log = (home / "server.log").open("ab")
    server = subprocess.Popen(
        argv, cwd=cwd, env=server_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    script = home / "wrk" / "chat.lua"
    rows = []
    try:
        wait_health(url, 120)
        time.sleep(2)
        if a.autogroup_nice is not None and Path("/proc/self/autogroup").exists():
            nginx = int((home / "pids" / "nginx.pid").read_text())
            for pid in ("self", server.pid, nginx):
                Path(f"/proc/{pid}/autogroup").write_text(str(a.autogroup_nice))
        workers = children(server.pid)
        if a.target == "bare":  # uvicorn's parent -> spawned workers (via a resource tracker)
            workers = [w for w in workers if "uvicorn" in Path(f"/proc/{w}/cmdline").read_text()]
            workers = workers or children(server.pid)
        print(f"load {os.getloadavg()[0]:.1f}; {a.target} workers {workers}; env {a.env}")
        for run in range(a.runs):
            before = {w: cpu(w) for w in workers}
            held: dict[int, int] = {}

            def snap(into: dict[int, int]) -> None:
                time.sleep(a.seconds / 2)
                into.update(connections(port))

            t = threading.Thread(target=snap, args=(held,))
            t.start()
            out = subprocess.run(
                ["wrk", "-t2", f"-c{a.conc}", f"-d{a.seconds}s", "-s", str(script), url],
                capture_output=True,
                text=True,
                env={**os.environ, "BENCH_KEY": "sk-bench-local-0001"},
                timeout=a.seconds + 60,
            ).stdout
            t.join()
            got = json.loads(next(ln for ln in out.splitlines() if ln.startswith("JSON:"))[5:])
            used = {w: cpu(w) - before[w] for w in workers}
            total = sum(used.values()) or 1.0
            row = {
                "run": run,
                "rps": round(got["rps"]),
                "connections": [held.get(w, 0) for w in workers],
                "cpu_s": [round(used[w], 2) for w in workers],
                "busiest_cpu_share": round(max(used.values()) / total, 3),
                "load1": round(os.getloadavg()[0], 1),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    finally:
        stop(server, home, env)
        log.close()
    shares = [r["busiest_cpu_share"] for r in rows]
    print(f"busiest worker's CPU share per run: {shares} (0.5 = even)")


if __name__ == "__main__":
    main()
