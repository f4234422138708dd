"""Embedding micro-batching: C concurrent clients sending single inputs through a live
gateway to a fake OpenAI upstream, with batching on and off. Three processes: the fake
upstream (``python -m tests.fakes``), the gateway (``lockgate serve``) and this client
(aiohttp), so the client's work does not slow the gateway down. Off and on alternate
``--repeat`` times; prints upstream calls and client latency percentiles per run, and the
added P99 (on minus off) with a 95% t-interval over the repeats.

    PYTHONPATH=. .venv/bin/python bench/bench_embed_batching.py --clients 100 --rounds 20
    PYTHONPATH=. .venv/bin/python bench/bench_embed_batching.py --clients 100 --rounds 20 --rate 200

The first (closed loop) keeps the gateway saturated, where merging calls saves it work;
the second (100 clients, 200 requests/s in all) keeps it below saturation, where the
batch window is pure waiting: its added P99 is the cost of micro-batching.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
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

#: per "on" run: share of callers the batcher held <= 10 ms, bucket bound of its P99 (ms)
WAITS: list[tuple[float, float]] = []
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


async def load(url: str, clients: int, rounds: int, rate: float = 0.0) -> list[float]:
    """Each client sends ``rounds`` single inputs one after the other (closed loop), or
    with ``rate`` > 0 on a schedule: ``rate`` requests per second in all, spread evenly
    over the clients; a latency is then counted from the scheduled time (a late send
    counts as waiting, not as a request that never was)."""
    lat: list[float] = []
    conn = aiohttp.TCPConnector(limit=clients)
    interval = clients / rate if rate > 0 else 0.0
    async with aiohttp.ClientSession(url, headers=bearer(), connector=conn) as c:
        t0 = time.perf_counter() + 0.05

        async def client(k: int) -> None:
            for r in range(rounds):
                t = time.perf_counter()
                if interval:
                    t = t0 + (r + k / clients) * interval
                    await asyncio.sleep(max(0.0, t - time.perf_counter()))
                body = {"model": "gpt-4o-mini", "input": f"c{k} r{r}"}
                async with c.post("/v1/embeddings", json=body) as res:
                    await res.read()
                    assert res.status == 200, res.status
                lat.append((time.perf_counter() - t) * 1000)

        await asyncio.gather(*(client(k) for k in range(clients)))
    return lat


def reset(fake: str, a: argparse.Namespace) -> None:
    httpx.post(fake + "/_control/reset")
    if a.upstream_ms > 0:
        fault = {"kind": "slow_headers", "seconds": a.upstream_ms / 1000, "times": None}
        httpx.post(fake + "/_control/faults", json={**fault, "path": "/v1/embeddings"})


@contextlib.contextmanager
def gateway(fake: str, tmp: Path, batching: bool, a: argparse.Namespace, rep: int) -> Iterator[str]:
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
                "embeddings": {
                    "batching": batching,
                    "batch_window_ms": a.window_ms,
                    "adaptive_window": not a.fixed_window,
                },
            }
        )
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = spawn_serve(config, port, tmp / f"gw-{batching}.log")
    try:
        wait_ok(url, "/health")
        asyncio.run(load(url, a.clients, 2, a.rate))  # warm-up: connections, first imports
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def report(batching: bool, lat: list[float], calls: int) -> tuple[float, ...]:
    p50, p99 = pct(lat, 0.5), pct(lat, 0.99)
    print(
        f"batching={'on ' if batching else 'off'}: {len(lat)} requests,"
        f" {calls} upstream calls ({len(lat) / max(calls, 1):.1f} inputs/call),"
        f" P50 {p50:.1f} ms, P99 {p99:.1f} ms (load {os.getloadavg()[0]:.1f})",
        flush=True,
    )
    return float(calls), p50, p99


def waits(url: str) -> tuple[float, float, float]:
    """The batcher's own record of the wait it added (lockgate_embedding_batch_wait_seconds,
    warm-up included): callers counted, the share that waited <= 10 ms, and the upper
    edge (ms) of the bucket holding the 99th percentile."""
    name = "lockgate_embedding_batch_wait_seconds_bucket"
    cum: list[tuple[float, float]] = []
    for line in httpx.get(url + "/metrics", headers=bearer()).text.splitlines():
        if line.startswith(name):
            le = line.split('le="')[1].split('"')[0]
            cum.append((float(le), float(line.rsplit(" ", 1)[1])))
    total = cum[-1][1] if cum else 0.0
    if not total:
        return 0.0, float("nan"), float("nan")
    within = dict(cum).get(0.01, 0.0) / total
    p99 = next(le for le, c in cum if c >= 0.99 * total)
    return total, within, p99 * 1000


def calls(fake: str) -> int:
    return int(httpx.get(fake + "/_control/stats").json()["counts"].get("/v1/embeddings", 0))


def run(fake: str, tmp: Path, batching: bool, a: argparse.Namespace, rep: int) -> tuple[float, ...]:
    with gateway(fake, tmp, batching, a, rep) as url:
        reset(fake, a)
        lat = asyncio.run(load(url, a.clients, a.rounds, a.rate))
        if batching:
            n, within, p99 = waits(url)
            WAITS.append((within, p99))
            print(
                f"  batcher wait of {n:.0f} callers: {100 * within:.2f}% <= 10 ms,"
                f" P99 <= {p99:g} ms"
            )
    return report(batching, lat, calls(fake))


def run_together(
    fakes: tuple[str, str], tmp: Path, a: argparse.Namespace, rep: int
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Off and on at the same time (a fake each): the machine's load hits both alike."""
    with (
        gateway(fakes[0], tmp, False, a, rep) as off_url,
        gateway(fakes[1], tmp, True, a, rep) as on_url,
    ):
        for fake in fakes:
            reset(fake, a)

        async def both() -> list[list[float]]:
            return list(
                await asyncio.gather(
                    load(off_url, a.clients, a.rounds, a.rate),
                    load(on_url, a.clients, a.rounds, a.rate),
                )
            )

        off_lat, on_lat = asyncio.run(both())
        n, within, p99 = waits(on_url)
        WAITS.append((within, p99))
        print(
            f"  on: batcher wait of {n:.0f} callers: {100 * within:.2f}% <= 10 ms,"
            f" P99 <= {p99:g} ms"
        )
    return report(False, off_lat, calls(fakes[0])), report(True, on_lat, calls(fakes[1]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--window-ms", type=float, default=5.0)
    ap.add_argument("--upstream-ms", type=float, default=0.0, help="the fake's answer time")
    ap.add_argument("--repeat", type=int, default=6)
    ap.add_argument(
        "--together", action="store_true", help="off and on at the same time, a fake each"
    )
    ap.add_argument(
        "--fixed-window", action="store_true", help="adaptive_window: false (always wait)"
    )
    ap.add_argument(
        "--rate", type=float, default=0.0, help="requests/s in all on a schedule (0: closed loop)"
    )
    a = ap.parse_args()
    added: list[float] = []
    added50: list[float] = []
    fewer: list[float] = []
    with fake_process() as fake, fake_process() as fake2, tempfile.TemporaryDirectory() as tmp:
        for rep in range(a.repeat):
            # odd repeats run on first: drift in the machine's load favours neither side
            if a.together:
                off, on = run_together((fake, fake2), Path(tmp), a, rep)
            elif rep % 2:
                on = run(fake, Path(tmp), True, a, rep)
                off = run(fake, Path(tmp), False, a, rep)
            else:
                off = run(fake, Path(tmp), False, a, rep)
                on = run(fake, Path(tmp), True, a, rep)
            added.append(on[2] - off[2])
            added50.append(on[1] - off[1])
            fewer.append(off[0] / max(on[0], 1))
    for name, xs in (
        ("batcher: callers held <= 10 ms (share)", [w[0] for w in WAITS]),
        ("upstream calls off/on", fewer),
        ("added P50 ms", added50),
        ("added P99 ms", added),
    ):
        m = statistics.mean(xs)
        half = (
            _T95[min(len(xs) - 1, len(_T95)) - 1] * statistics.stdev(xs) / len(xs) ** 0.5
            if len(xs) > 1
            else float("nan")
        )
        print(f"{name}: mean {m:.2f}, 95% CI [{m - half:.2f}, {m + half:.2f}], n={len(xs)} runs")


if __name__ == "__main__":
    main()
