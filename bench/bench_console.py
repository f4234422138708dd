"""Console aggregates at scale: seed N usage rows through the real batch write (rows and
hourly rollups in one transaction) on a temp SQLite file, then time the overview query.

    PYTHONPATH=src nice -n 10 python bench/bench_console.py [--rows 1000000]
        [--batch 5000] [--runs 50]

Prints the insert rate with rollups, the rollup row count, and P50/P95 of the overview
query (per-model sums over 24 hours, and over all 30 days).  SQLite only so far.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path

from lockgate.console.queries import by_model
from lockgate.records import RequestRecord
from lockgate.storage.database import Database
from lockgate.usage.repository import UsageRepository

START = 1_767_225_600.0  # 2026-01-01T00:00:00Z
SPAN_S = 30 * 86400
MODELS = [f"model-{i}" for i in range(8)]
KEYS = [f"key_{i:03d}" for i in range(200)]
USERS = [f"user-{i}" for i in range(50)]


def _record(n: int, rng: random.Random) -> RequestRecord:
    key = rng.choice(KEYS)
    return RequestRecord(
        request_id=f"req_{n:08d}",
        started_at=START + rng.random() * SPAN_S,
        api="openai",
        key_id=key,
        key_name=key,
        team=f"team-{int(key[-3:]) % 10}",
        user=rng.choice(USERS),
        model=rng.choice(MODELS),
        provider="openai",
        deployment="d#0",
        upstream_model="m",
        status=200 if rng.random() > 0.03 else 500,
        error_type=None,
        error_code=None,
        stream=False,
        prompt_tokens=rng.randint(10, 2000),
        completion_tokens=rng.randint(1, 500),
        cached_tokens=0,
        cost_usd=rng.random() / 100,
        latency_ms=rng.uniform(50, 3000),
        overhead_ms=0.3,
        ttft_ms=rng.uniform(20, 500),
        attempts=1,
        cache="miss",
    )


def _pct(xs: list[float], q: float) -> float:
    return statistics.quantiles(xs, n=100)[int(q) - 1] if len(xs) > 1 else xs[0]


async def main(rows: int, batch: int, runs: int) -> None:
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}")
        await db.migrate()
        repo = UsageRepository(db)
        t0 = time.perf_counter()
        for lo in range(0, rows, batch):
            await repo.insert([_record(n, rng) for n in range(lo, min(rows, lo + batch))])
        dt = time.perf_counter() - t0
        print(f"seeded {rows} rows (+ rollups) in {dt:.1f} s: {rows / dt:.0f} rows/s")
        async with db.engine.connect() as conn:
            from sqlalchemy import text

            n_roll = (await conn.execute(text("SELECT COUNT(*) FROM usage_rollups"))).scalar()
        print(f"rollup rows: {n_roll}")
        for label, since in (("24 h", int(START + SPAN_S - 86400)), ("30 days", 0)):
            times = []
            for _ in range(runs):
                t = time.perf_counter()
                await by_model(db.engine, since)
                times.append((time.perf_counter() - t) * 1000)
            print(
                f"overview by model, {label}: n={runs} "
                f"P50 {_pct(times, 50):.1f} ms, P95 {_pct(times, 95):.1f} ms"
            )
        await db.aclose()


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--batch", type=int, default=5000)
    p.add_argument("--runs", type=int, default=50)
    a = p.parse_args()
    asyncio.run(main(a.rows, a.batch, a.runs))
