"""How long a model added through /admin/models takes to be routable on the other
replicas (real processes, loopback), and a removal to take effect.

    .venv/bin/python bench/bench_live_models.py [--rounds 20] [--redis]

Three ``lockgate serve`` processes share one SQLite database (and, with ``--redis``, a
redis-server this script starts).  Each round: POST a model to replica A, then poll B and
C every 5 ms until both answer 200 for it (the round's delay is the later of the two);
DELETE it on A and poll until both answer 404.  Prints median, 95th percentile and maximum.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml
from bench_revocation import free_port, wait_up

MASTER = "sk-bench-models-0001"


def until(c: httpx.Client, urls: list[str], model: str, status: int) -> float:
    """Milliseconds until every url answers ``status`` for ``model`` (30 s at most)."""
    start = time.perf_counter()
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    auth = {"authorization": f"Bearer {MASTER}"}
    left = set(urls)
    while left:
        for u in list(left):
            if c.post(u + "/v1/chat/completions", json=body, headers=auth).status_code == status:
                left.discard(u)
        if time.perf_counter() - start > 30:
            raise SystemExit("not propagated within 30 s")
        if left:
            time.sleep(0.005)
    return (time.perf_counter() - start) * 1000


def summary(name: str, values: list[float]) -> str:
    values = sorted(values)
    p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
    return (
        f"{name}: n={len(values)} median={statistics.median(values):.0f} ms"
        f" p95={p95:.0f} ms max={values[-1]:.0f} ms"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--redis", action="store_true")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lockgate-models-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        general: dict[str, object] = {
            "master_key": MASTER,
            "database_url": f"sqlite+aiosqlite:///{work}/shared.db",
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
        for i in range(3):
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
            if i == 0:
                wait_up(urls[0] + "/health")  # the first one creates the schema
        for u in urls:
            wait_up(u + "/health")
        auth = {"authorization": f"Bearer {MASTER}"}
        added, removed = [], []
        with httpx.Client(timeout=10) as c:
            for n in range(args.rounds):
                name = f"live-{n}"
                entry = {"model_name": name, "params": {"model": "mock/mock-1"}}
                rid = c.post(urls[0] + "/admin/models", json=entry, headers=auth).json()["id"]
                added.append(until(c, urls[1:], name, 200))
                c.delete(urls[0] + f"/admin/models/{rid}", headers=auth)
                removed.append(until(c, urls[1:], name, 404))
        print(f"redis={'yes' if args.redis else 'no'} replicas=3")
        print(summary("added -> routable on B and C", added))
        print(summary("removed -> 404 on B and C", removed))
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=20)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
