"""Embedding micro-batching: C concurrent clients sending single inputs through a live
gateway to a fake OpenAI upstream, with batching on and off. Three processes: the fake
upstream (``python -m tests.fakes``), the gateway (``lockgate serve``) and this client
(aiohttp), so the client's work does not slow the gateway down. Off and on alternate
``--repeat`` times; prints upstream calls and client latency percentiles per run, and the
added P99 (on minus off) with a 95% t-interval over the repeats.

    PYTHONPATH=. .venv/bin/python bench/bench_embed_batching.py --clients 100 --rounds 20
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import httpx
import yaml
from tests.conftest import free_port
from tests.live_server import spawn_serve, wait_ok
from tests.support import MASTER, bearer

#: two-sided 95% Student t quantiles for 1..10 degrees of freedom
_T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228)


def pct(xs: list[float], q: float) -> float:
    return sorted(xs)[min(len(xs) - 1, int(q * len(xs)))]


@contextlib.contextmanager
def fake_process() -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes", "--port", "0"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        yield line.rsplit(" ", 1)[-1].strip()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def load(url: str, clients: int, rounds: int) -> list[float]:
    lat: list[float] = []
    conn = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(url, headers=bearer(), connector=conn) as c:

        async def client(k: int) -> None:
            for r in range(rounds):
                t = time.perf_counter()
                body = {"model": "gpt-4o-mini", "input": f"c{k} r{r}"}
                async with c.post("/v1/embeddings", json=body) as res:
                    await res.read()
                    assert res.status == 200, res.status
                lat.append((time.perf_counter() - t) * 1000)

        await asyncio.gather(*(client(k) for k in range(clients)))
    return lat


def run(fake: str, tmp: Path, batching: bool, a: argparse.Namespace, rep: int) -> tuple[float, ...]:
    httpx.post(fake + "/_control/reset")
    if a.upstream_ms > 0:
        fault = {"kind": "slow_headers", "seconds": a.upstream_ms / 1000, "times": None}
        httpx.post(fake + "/_control/faults", json={**fault, "path": "/v1/embeddings"})
    config = tmp / f"gw-{batching}-{rep}.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "model_list": [
                    {
                        "model_name": "gpt-4o-mini",
                        "params": {
                            "model": "openai/text-embedding-3-small",
                            "api_base": fake + "/v1",
                            "api_key": "k",
                        },
                    }
                ],
                "general_settings": {
                    "master_key": MASTER,
                    "database_url": f"sqlite+aiosqlite:///{tmp}/{batching}-{rep}.db",
                },
                "embeddings": {"batching": batching, "batch_window_ms": a.window_ms},
            }
        )
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = spawn_serve(config, port, tmp / "gw.log")
    try:
        wait_ok(url, "/health")
        asyncio.run(load(url, a.clients, 2))  # warm-up: connections, first imports
        httpx.post(fake + "/_control/reset")
        if a.upstream_ms > 0:
            httpx.post(fake + "/_control/faults", json={**fault, "path": "/v1/embeddings"})
        lat = asyncio.run(load(url, a.clients, a.rounds))
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    calls = httpx.get(fake + "/_control/stats").json()["counts"].get("/v1/embeddings", 0)
    p50, p99 = pct(lat, 0.5), pct(lat, 0.99)
    print(
        f"batching={'on ' if batching else 'off'}: {len(lat)} requests,"
        f" {calls} upstream calls ({len(lat) / max(calls, 1):.1f} inputs/call),"
        f" P50 {p50:.1f} ms, P99 {p99:.1f} ms",
        flush=True,
    )
    return float(calls), p50, p99


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--window-ms", type=float, default=5.0)
    ap.add_argument("--upstream-ms", type=float, default=0.0, help="the fake's answer time")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    added: list[float] = []
    fewer: list[float] = []
    with fake_process() as fake, tempfile.TemporaryDirectory() as tmp:
        for rep in range(a.repeat):
            off = run(fake, Path(tmp), False, a, rep)
            on = run(fake, Path(tmp), True, a, rep)
            added.append(on[2] - off[2])
            fewer.append(off[0] / max(on[0], 1))
    for name, xs in (("upstream calls off/on", fewer), ("added P99 ms", added)):
        m = statistics.mean(xs)
        half = (
            _T95[min(len(xs) - 1, len(_T95)) - 1] * statistics.stdev(xs) / len(xs) ** 0.5
            if len(xs) > 1
            else float("nan")
        )
        print(f"{name}: mean {m:.2f}, 95% CI [{m - half:.2f}, {m + half:.2f}], n={len(xs)} runs")


if __name__ == "__main__":
    main()
