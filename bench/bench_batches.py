"""Batch throughput and crash safety against a fake OpenAI upstream on 127.0.0.1.

1. direct: N chat requests straight to the fake at concurrency C (aiohttp);
2. batch: the same N lines as one batch through a gateway process with
   batches.concurrency C, timed from create to completed;
3. kills: the same batch with the gateway SIGKILLed twice mid-run and restarted;
   counts output lines, distinct lines seen upstream and lines sent twice.

    PYTHONPATH=. .venv/bin/python bench/bench_batches.py --lines 10000 --concurrency 64
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import aiohttp
import httpx
import yaml
from tests.conftest import free_port
from tests.fakes import start_in_thread

MASTER = "sk-bench-master-0001"


def lines(n: int) -> bytes:
    rows = (
        {
            "custom_id": f"r{i}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": "m", "messages": [{"role": "user", "content": f"line {i}"}]},
        }
        for i in range(n)
    )
    return ("\n".join(json.dumps(r) for r in rows) + "\n").encode()


async def direct(base: str, n: int, c: int) -> float:
    sem = asyncio.Semaphore(c)
    async with aiohttp.ClientSession() as s:

        async def one(i: int) -> None:
            async with sem:
                body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"d{i}"}]}
                async with s.post(base + "/chat/completions", json=body) as r:
                    await r.read()

        t = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        return time.perf_counter() - t


def serve(config: Path, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "lockgate", "serve", "-c", str(config), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_up(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit("gateway did not start")


def run_batch(fake, n: int, c: int, kills: int, tmp: Path) -> dict[str, float]:  # type: ignore[no-untyped-def]
    fake.reset()
    db = tmp / f"gw{kills}.db"
    config = tmp / f"gw{kills}.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "model_list": [
                    {
                        "model_name": "m",
                        "params": {
                            "model": "openai/gpt-4o-mini",
                            "api_base": fake.openai_base_url,
                            "api_key": "k",
                        },
                    }
                ],
                "general_settings": {
                    "master_key": MASTER,
                    "database_url": f"sqlite+aiosqlite:///{db}",
                },
                "batches": {"concurrency": c, "lease_seconds": 3, "poll_seconds": 0.05},
            }
        )
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = serve(config, port)
    h = {"authorization": f"Bearer {MASTER}"}
    try:
        wait_up(url)
        f = httpx.post(
            url + "/v1/files",
            headers=h,
            files={"file": ("in.jsonl", lines(n))},
            data={"purpose": "batch"},
            timeout=120,
        ).json()
        t = time.perf_counter()
        b = httpx.post(
            url + "/v1/batches",
            headers=h,
            json={
                "input_file_id": f["id"],
                "endpoint": "/v1/chat/completions",
                "completion_window": "24h",
            },
            timeout=120,
        ).json()
        for k in range(kills):
            target = n * (k + 1) // (kills + 2)
            while len(fake.requests_to("/v1/chat/completions")) < target:
                time.sleep(0.01)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            proc = serve(config, port)
            wait_up(url)
        while True:
            st = httpx.get(url + f"/v1/batches/{b['id']}", headers=h, timeout=30).json()
            if st["status"] in ("completed", "failed", "cancelled"):
                break
            time.sleep(0.05)
        elapsed = time.perf_counter() - t
        out = httpx.get(
            url + f"/v1/files/{st['output_file_id']}/content", headers=h, timeout=120
        ).text.splitlines()
    finally:
        proc.terminate()
        proc.wait()
    sent = Counter(
        r.body["messages"][0]["content"] for r in fake.requests_to("/v1/chat/completions")
    )
    ids = Counter(json.loads(x)["custom_id"] for x in out)
    return {
        "seconds": elapsed,
        "output_lines": len(out),
        "distinct_output": len(ids),
        "upstream_requests": sum(sent.values()),
        "distinct_upstream": len(sent),
        "sent_twice": sum(v - 1 for v in sent.values()),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=10_000)
    ap.add_argument("--concurrency", type=int, default=64)
    args = ap.parse_args()
    n, c = args.lines, args.concurrency
    with start_in_thread() as fake, tempfile.TemporaryDirectory() as tmp:
        d = asyncio.run(direct(fake.openai_base_url, n, c))
        print(f"direct:        {n} requests at c={c}: {d:.1f} s ({n / d:.0f}/s)")
        fake.reset()
        r = run_batch(fake, n, c, 0, Path(tmp))
        print(
            f"batch:         {r['seconds']:.1f} s ({n / r['seconds']:.0f}/s),"
            f" {r['seconds'] / d:.2f}x direct's time; {r}"
        )
        r = run_batch(fake, n, c, 2, Path(tmp))
        print(f"batch+2 kills: {r}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
