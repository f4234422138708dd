"""Rollback timing of a canary rollout whose new version fails 10% of its calls.

The e2e test's scenario (tests/prompts/test_rollout_e2e.py), repeated: two fake
upstreams on 127.0.0.1, the gateway as its own ``lockgate serve`` process, three
client threads; the new version's upstream fails every 10th call.  Reports, per run,
the wall time from the rollout's start to its rollback, against the bound
interval x (failure_limit + 1).

    PYTHONPATH=. .venv/bin/python bench/bench_rollout.py [--runs 3] [--interval 1.0]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import yaml
from tests.conftest import free_port
from tests.fakes import Fault, start_in_thread
from tests.prompts.test_rollout_e2e import drive, prompt
from tests.support import MASTER, bearer


@contextlib.contextmanager
def gateway(tmp: Path, old_url: str, new_url: str, db_url: str | None) -> Iterator[str]:
    """``lockgate serve`` in its own process (as in production), on a free port."""

    def alias(name: str, url: str) -> dict:
        return {
            "model_name": name,
            "params": {"model": "openai/gpt-4o-mini", "api_base": url, "api_key": "sk-up"},
        }

    port = free_port()
    config = {
        "model_list": [alias("model-old", old_url), alias("model-new", new_url)],
        "router_settings": {"num_retries": 0},
        "general_settings": {
            "master_key": MASTER,
            "database_url": db_url or f"sqlite+aiosqlite:///{tmp}/gw.db",
        },
        "server": {"log_level": "warning"},
        "usage": {"flush_interval_seconds": 0.1},
        "prompts": {"poll_interval_seconds": 0.2, "rollout_tick_seconds": 0.1},
    }
    (tmp / "lockgate.yaml").write_text(yaml.safe_dump(config))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lockgate",
            "serve",
            "-c",
            str(tmp / "lockgate.yaml"),
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def run_once(
    interval: float, failure_limit: int, db_url: str | None, steps: list[float]
) -> tuple[float, Counter[str | None], int, str]:
    tmp = Path(tempfile.mkdtemp(prefix="lockgate-rollout-"))
    with start_in_thread() as old, start_in_thread() as new:
        new.script(*([None] * 9 + [Fault.error(500)]) * 1000)
        with gateway(tmp, old.openai_base_url, new.openai_base_url, db_url) as url:
            admin = httpx.Client(base_url=url, headers=bearer(), timeout=10)
            admin.post("/admin/prompts", json=prompt("model-old", ["production"]))
            admin.post("/admin/prompts", json=prompt("model-new", []))
            client = openai.OpenAI(base_url=url + "/v1", api_key=MASTER, max_retries=0)
            seen: list = []
            stop = threading.Event()
            workers = [threading.Thread(target=drive, args=(client, stop, seen)) for _ in range(3)]
            for w in workers:
                w.start()
            body = {
                "name": "r",
                "prompt": "support",
                "to_version": 2,
                "steps": steps,
                "interval_seconds": interval,
                "failure_limit": failure_limit,
                "min_requests": 10,
                "guards": {"max_error_rate_increase": 0.02, "max_p95_latency_ratio": None},
            }
            admin.post("/admin/rollouts", json=body).raise_for_status()
            deadline = time.monotonic() + 60
            state = {}
            while time.monotonic() < deadline:
                state = admin.get("/admin/rollouts/r").json()
                if state["status"] != "running":
                    break
                time.sleep(0.05)
            stop.set()
            for w in workers:
                w.join(timeout=30)
            client.close()
            admin.close()
    # Failed responses carry x-lockgate-prompt too: count them by the version that failed.
    rows = Counter(p for s, p, _ in seen if s >= 500)
    took = state["ended_at"] - state["started_at"]
    kinds = " ".join(f"{e['kind']}@{e['at'] - state['started_at']:.1f}" for e in state["events"])
    return took, dict(rows), len(seen), kinds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--failure-limit", type=int, default=2)
    ap.add_argument("--postgres", action="store_true", help="a throwaway PostgreSQL, not SQLite")
    ap.add_argument("--steps", default="5,25,50,100", help="percent steps, comma-separated")
    args = ap.parse_args()
    db_url = None
    pg = None
    if args.postgres:
        from tests.conftest import PostgresServer

        workdir = tempfile.mkdtemp(prefix="lockgate-pg-")
        pg = PostgresServer(free_port(), workdir)
        pg.start()
        from tests.prompts.conftest import fresh_database
    steps = [float(x) for x in args.steps.split(",")]
    bound = args.interval * (args.failure_limit + 1)
    for i in range(args.runs):
        try:
            if pg is not None:
                db_url = asyncio.run(fresh_database(pg.url))
            took, failed, total, kinds = run_once(args.interval, args.failure_limit, db_url, steps)
        finally:
            if pg is not None and i == args.runs - 1:
                pg.stop()
        print(
            f"run {i + 1} (steps {args.steps}): start -> rollback {took:.2f} s"
            f" (bound {bound:.1f} s); failed requests by version {dict(failed)} of {total};"
            f" events {kinds}"
        )


if __name__ == "__main__":
    main()
