"""The console at scale: seed N usage rows through the real batch write (rows and rollups
in one transaction), then time the console's pages end to end and their queries alone.

    PYTHONPATH=src nice -n 10 python bench/bench_console.py [--rows 1000000]
        [--batch 5000] [--runs 30] [--db /tmp/console-1m.db] [--database-url URL]

``--write-rows N`` first times the write path alone (N rows in batches of 100, the usage
writer's default, with and without rollups).  ``--db`` keeps the seeded SQLite file and
reuses it on the next run (seeding 1,000,000 rows takes minutes); ``--database-url``
(e.g. a PostgreSQL URL) seeds and measures another backend (it must be empty).  The rows
span the 30 days up to now: 200 keys in 10 teams, 50 users, 8 models, 3 % errors, 20 %
cache hits.

Pages are timed through the real app in-process (httpx ASGITransport, logged in with the
master key): routing, session check, queries, Jinja rendering.  Each line prints n,
P50 and P95 with a bootstrap 95 % confidence interval of the P95.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import sqlalchemy as sa
from asgi_lifespan import LifespanManager

from lockgate.app import create_app
from lockgate.auth.repository import KeyRepository
from lockgate.console.logs import Cursor, LogFilter, list_logs
from lockgate.console.queries import by_model, usage_by
from lockgate.console.rollups import apply_rollups
from lockgate.records import RequestRecord
from lockgate.settings import settings_from_mapping
from lockgate.storage.database import Database
from lockgate.usage.repository import UsageRepository, row_of
from lockgate.usage.tables import usage_records

MASTER = "sk-bench-master-0001"
DAY = 86400
SPAN_S = 30 * DAY
MODELS = [f"model-{i}" for i in range(8)]
USERS = [f"user-{i}" for i in range(50)]


def _record(n: int, rng: random.Random, start: float, keys: list[str]) -> RequestRecord:
    k = rng.randrange(len(keys))
    hit = rng.random() < 0.2
    return RequestRecord(
        request_id=f"req_{n:08d}",
        started_at=start + rng.random() * SPAN_S,
        api="openai",
        key_id=keys[k],
        key_name=f"bench-{k:03d}",
        team=f"team-{k % 10}",
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
        cost_usd=0.0 if hit else rng.random() / 100,
        latency_ms=rng.uniform(1, 5) if hit else rng.uniform(50, 3000),
        overhead_ms=0.3,
        ttft_ms=rng.uniform(20, 500),
        attempts=1,
        cache="hit" if hit else "miss",
        saved_usd=rng.random() / 100 if hit else 0.0,
    )


def _pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))]


def _summary(label: str, times: list[float]) -> str:
    rng = random.Random(1)
    boots = sorted(_pct(rng.choices(times, k=len(times)), 95) for _ in range(1000))
    lo, hi = boots[25], boots[974]
    return (
        f"{label:<44} n={len(times):<3} P50 {statistics.median(times):7.1f} ms  "
        f"P95 {_pct(times, 95):7.1f} ms (95% CI {lo:.1f}-{hi:.1f})"
    )


async def _time(runs: int, fn: Callable[[], Awaitable[object]]) -> list[float]:
    await fn()  # warm-up (not counted)
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        await fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


async def _seed(db: Database, rows: int, batch: int, now: float) -> None:
    keys_repo = KeyRepository(db)
    keys = [
        (await keys_repo.create(f"bench-{i:03d}", team=f"team-{i % 10}"))[1].id for i in range(200)
    ]
    repo = UsageRepository(db)
    rng = random.Random(7)
    print("created 200 keys")
    start = now - SPAN_S
    t0 = time.perf_counter()
    for lo in range(0, rows, batch):
        await repo.insert([_record(n, rng, start, keys) for n in range(lo, min(rows, lo + batch))])
    dt = time.perf_counter() - t0
    print(f"seeded {rows} rows (+ rollups) in {dt:.1f} s: {rows / dt:.0f} rows/s")


async def _write_cost(rows: int, batch: int) -> None:
    """Rows/s of the usage writer's batch write on a fresh SQLite file: rows alone vs rows
    and rollups (the rollups' cost on the write path), alternating, 3 rounds each."""
    now = time.time()
    keys = [f"key_{i:03d}" for i in range(200)]
    rates: dict[str, list[float]] = {"rows only": [], "rows + rollups": []}
    for _ in range(3):
        for mode in rates:
            with tempfile.TemporaryDirectory() as tmp:
                db = Database(f"sqlite+aiosqlite:///{Path(tmp) / 'w.db'}")
                await db.migrate()
                rng = random.Random(5)
                batches = [
                    [row_of(_record(n, rng, now - SPAN_S, keys)) for n in range(lo, lo + batch)]
                    for lo in range(0, rows, batch)
                ]
                t = time.perf_counter()
                for chunk in batches:
                    async with db.engine.begin() as conn:
                        await conn.execute(usage_records.insert(), chunk)
                        if mode != "rows only":
                            await apply_rollups(conn, chunk)
                rates[mode].append(rows / (time.perf_counter() - t))
                await db.aclose()
    for mode, xs in rates.items():
        print(
            f"write, batches of {batch}, {mode}: median {statistics.median(xs):.0f} rows/s "
            f"(3 rounds: {', '.join(f'{x:.0f}' for x in xs)})"
        )


async def main(rows: int, batch: int, runs: int, path: str | None, url: str | None) -> None:
    tmp = tempfile.TemporaryDirectory()
    if url is None:
        file = Path(path) if path else Path(tmp.name) / "bench.db"
        fresh = not file.exists()
        url = f"sqlite+aiosqlite:///{file}"
    else:
        fresh = True
    now = time.time()
    db = Database(url)
    if fresh:
        await db.migrate()
        await _seed(db, rows, batch, now)
    async with db.engine.connect() as conn:
        for table in ("usage_records", "usage_hourly", "usage_daily"):
            n = (await conn.execute(sa.text(f"SELECT COUNT(*) FROM {table}"))).scalar()
            print(f"{table}: {n} rows")
        some_key = (await conn.execute(sa.select(usage_records.c.key_id).limit(1))).scalar()
        mid = (
            await conn.execute(
                sa.select(usage_records.c.started_at, usage_records.c.request_id)
                .order_by(usage_records.c.started_at.desc())
                .offset(rows // 2)
                .limit(1)
            )
        ).one()
    engine = db.engine
    month = int(now) - SPAN_S
    print("-- queries alone")
    queries: list[tuple[str, Callable[[], Awaitable[object]]]] = [
        ("overview by model, 24 h", lambda: by_model(engine, int(now) - DAY)),
        ("by model, 30 days", lambda: by_model(engine, month)),
        *(
            (f"usage by {g}, 30 days", lambda g=g: usage_by(engine, g, month))  # type: ignore[misc]
            for g in ("key", "team", "user", "day")
        ),
        (
            "one key's usage by model, 30 days",
            lambda: usage_by(engine, "model", month, key_id=some_key),
        ),
        ("logs first page, no filter", lambda: list_logs(engine, LogFilter())),
        ("logs, status=error", lambda: list_logs(engine, LogFilter(status="error"))),
        (
            "logs, model + cache=hit",
            lambda: list_logs(engine, LogFilter(model="model-3", cache="hit")),
        ),
        ("logs, one key", lambda: list_logs(engine, LogFilter(key=some_key))),
        ("logs, one user", lambda: list_logs(engine, LogFilter(user="user-7"))),
        (
            "logs, last 24 h, errors of one model",
            lambda: list_logs(engine, LogFilter(status="error", model="model-5", since=now - DAY)),
        ),
        ("logs, page at the middle (keyset)", lambda: list_logs(engine, LogFilter(), Cursor(*mid))),
    ]
    for label, fn in queries:
        print(_summary(label, await _time(runs, fn)))
    await db.aclose()

    print("-- pages through the app (session check, queries, rendering)")
    settings = settings_from_mapping(
        {
            "model_list": [{"model_name": m, "params": {"model": "mock/mock-1"}} for m in MODELS],
            "general_settings": {"master_key": MASTER, "database_url": url},
        },
        env={},
    )
    async with (
        LifespanManager(create_app(settings), startup_timeout=120) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://bench"
        ) as client,
    ):
        form = await client.get("/ui/login")
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', form.text)
        assert csrf is not None
        r = await client.post("/ui/login", data={"master_key": MASTER, "csrf": csrf.group(1)})
        assert r.status_code == 303, r.status_code
        pages = [
            "/ui/",
            "/ui/keys",
            "/ui/usage?by=model&days=30",
            "/ui/usage?by=key&days=30",
            "/ui/usage?by=team&days=30",
            "/ui/usage?by=user&days=30",
            "/ui/usage?by=day&days=30",
            "/ui/usage?by=key&days=30&format=csv",
            "/ui/logs",
            "/ui/logs?status=error",
            f"/ui/logs?key={some_key}&cache=hit",
            "/ui/logs?user=user-7&status=ok",
            f"/ui/logs?after={Cursor(*mid).encode()}",
            "/ui/logs/req_00000042",
            "/ui/models",
            "/ui/cache",
            "/ui/evals",
        ]
        for path in pages:

            async def get(path: str = path) -> None:
                resp = await client.get(path)
                assert resp.status_code == 200, (path, resp.status_code)

            print(_summary(f"GET {path[:38]}", await _time(runs, get)))
    tmp.cleanup()


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--batch", type=int, default=5000)
    p.add_argument("--runs", type=int, default=30)
    p.add_argument("--db", default=None, help="SQLite file to keep (reused when it exists)")
    p.add_argument("--write-rows", type=int, default=0, help="also time the write path")
    p.add_argument("--database-url", default=None, help="an empty database to seed (e.g. Postgres)")
    a = p.parse_args()
    if a.write_rows:
        asyncio.run(_write_cost(a.write_rows, 100))
    asyncio.run(main(a.rows, a.batch, a.runs, a.db, a.database_url))
