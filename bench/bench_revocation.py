"""How long a revocation takes to reach another replica (real processes, loopback).

    .venv/bin/python bench/bench_revocation.py [--rounds 30] [--redis]

Two ``lockgate serve`` processes share one SQLite database (and, with ``--redis``, a
redis-server this script starts).  Each round: create a key on replica A, use it on both
(cached), revoke it on A, then poll replica B every 5 ms until it answers 401.  Prints
the delay's median, 95th percentile and maximum over the rounds.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml

MASTER = "sk-bench-revoke-0001"
CHAT = {"model": "mock", "messages": [{"role": "user", "content": "hi"}]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str) -> None:
    for _ in range(300):
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--redis", action="store_true")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lockgate-revoke-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        general: dict[str, object] = {
            "master_key": MASTER,
            "database_url": f"sqlite+aiosqlite:///{work}/shared.db",
            "key_cache_ttl_seconds": 3600,
        }
        if args.redis:
            rport = free_port()
            procs.append(
                subprocess.Popen(
                    ["redis-server", "--port", str(rport), "--save", "", "--appendonly", "no"],
                    stdout=subprocess.DEVNULL,
                    cwd=work,
                )
            )
            general["redis_url"] = f"redis://127.0.0.1:{rport}/0"
            time.sleep(0.5)
        config = work / "c.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "model_list": [{"model_name": "mock", "params": {"model": "mock/mock-1"}}],
                    "general_settings": general,
                    "usage": {"enabled": False},
                    "audit": {"enabled": False},
                }
            )
        )
        urls = []
        for _ in range(2):
            port = free_port()
            cmd = [
                sys.executable,
                "-m",
                "lockgate",
                "serve",
                "-c",
                str(config),
                "--port",
                str(port),
            ]
            procs.append(
                subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            )
            urls.append(f"http://127.0.0.1:{port}")
        for u in urls:
            wait_up(u + "/health")
        a, b = urls
        auth = {"authorization": f"Bearer {MASTER}"}
        delays = []
        with httpx.Client(timeout=10) as c:
            for _ in range(args.rounds):
                made = c.post(a + "/admin/keys", json={"name": "t"}, headers=auth).json()
                key = {"authorization": f"Bearer {made['key']}"}
                for u in urls:
                    assert (
                        c.post(u + "/v1/chat/completions", json=CHAT, headers=key).status_code
                        == 200
                    )
                c.delete(a + f"/admin/keys/{made['id']}", headers=auth)
                start = time.perf_counter()
                while c.post(b + "/v1/chat/completions", json=CHAT, headers=key).status_code != 401:
                    time.sleep(0.005)
                    if time.perf_counter() - start > 30:
                        raise SystemExit("not propagated within 30 s")
                delays.append((time.perf_counter() - start) * 1000)
        delays.sort()
        p95 = delays[min(len(delays) - 1, round(0.95 * (len(delays) - 1)))]
        print(
            f"redis={'yes' if args.redis else 'no'} rounds={len(delays)} "
            f"median={statistics.median(delays):.1f} ms p95={p95:.1f} ms max={delays[-1]:.1f} ms"
        )
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=20)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
