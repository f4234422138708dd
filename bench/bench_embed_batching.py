"""Embedding micro-batching: 100 concurrent clients sending single inputs through a live
gateway to a fake OpenAI upstream, with batching on and off. Prints upstream calls and
client latency percentiles for each.

    PYTHONPATH=. .venv/bin/python bench/bench_embed_batching.py --clients 100 --rounds 20
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time

import httpx
from tests.e2e.conftest import model_list
from tests.fakes import start_in_thread
from tests.live_server import serve_in_thread
from tests.support import MASTER, bearer

from lockgate.settings import settings_from_mapping


def pct(xs: list[float], q: float) -> float:
    return sorted(xs)[min(len(xs) - 1, int(q * len(xs)))]


async def load(url: str, clients: int, rounds: int) -> list[float]:
    lat: list[float] = []
    async with httpx.AsyncClient(base_url=url, headers=bearer(), timeout=30) as c:

        async def client(k: int) -> None:
            for r in range(rounds):
                t = time.perf_counter()
                res = await c.post(
                    "/v1/embeddings", json={"model": "gpt-4o-mini", "input": f"c{k} r{r}"}
                )
                res.raise_for_status()
                lat.append((time.perf_counter() - t) * 1000)

        await asyncio.gather(*(client(k) for k in range(clients)))
    return lat


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--window-ms", type=float, default=5.0)
    a = ap.parse_args()
    with start_in_thread() as fake, tempfile.TemporaryDirectory() as tmp:
        for batching in (False, True):
            fake.reset()
            data = {
                "model_list": model_list(fake),
                "general_settings": {
                    "master_key": MASTER,
                    "database_url": f"sqlite+aiosqlite:///{tmp}/{batching}.db",
                },
                "embeddings": {"batching": batching, "batch_window_ms": a.window_ms},
            }
            with serve_in_thread(settings_from_mapping(data, env={})) as gw:
                lat = asyncio.run(load(gw.url, a.clients, a.rounds))
            calls = len(fake.requests_to("/v1/embeddings"))
            print(
                f"batching={'on ' if batching else 'off'}: {len(lat)} requests,"
                f" {calls} upstream calls ({len(lat) / max(calls, 1):.1f} inputs/call),"
                f" P50 {pct(lat, 0.5):.1f} ms, P99 {pct(lat, 0.99):.1f} ms"
            )


if __name__ == "__main__":
    main()
