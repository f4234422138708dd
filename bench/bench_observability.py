"""Cost of observability per request, and of writing usage rows in batches.

Per request (in-process, no I/O): ``Metrics.observe``, ``Stats.record``, building the
``RequestRecord`` and ``UsageWriter.submit``, each timed on its own and all together.
Per row: ``UsageRepository.insert`` in batches on a temp SQLite file and, with
``--postgres`` (starts a throwaway server the way tests/conftest.py does) or
``--postgres-url``, on PostgreSQL.

    PYTHONPATH=src python bench/bench_observability.py [--n 50000] [--rows 20000]
        [--batch 500] [--postgres | --postgres-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Protocol

from lockgate.auth.keys import Principal
from lockgate.chat import Usage
from lockgate.context import RequestContext
from lockgate.metrics import Metrics
from lockgate.records import RequestRecord
from lockgate.services import build_record
from lockgate.settings import settings_from_mapping
from lockgate.stats import Stats
from lockgate.storage.database import Database
from lockgate.usage.repository import UsageRepository
from lockgate.usage.writer import UsageWriter

ROOT = Path(__file__).resolve().parent.parent
MODEL = "priced"


class NullStore:
    """A batch store that keeps nothing: submit's cost without any write."""

    async def insert(self, records: Sequence[RequestRecord]) -> None:
        return None


def _context() -> RequestContext:
    settings = settings_from_mapping(
        {
            "model_list": [
                {
                    "model_name": MODEL,
                    "params": {
                        "model": "mock/mock-1",
                        "input_cost_per_million": 1000.0,
                        "output_cost_per_million": 2000.0,
                    },
                }
            ]
        },
        env={},
    )
    principal = Principal(kind="key", key_id="key_0123456789abcdef", name="bench", team="red")
    ctx = RequestContext(request_id="req_bench_0000000001", principal=principal, api="openai")
    ctx.deployment = settings.deployments()[0]
    ctx.attempts = 1
    ctx.cache_status = "miss"
    ctx.user = "ann"
    ctx.settle(Usage(prompt_tokens=120, completion_tokens=40))
    return ctx


def _per_call_us(fn: Callable[[int], None], n: int) -> float:
    for i in range(min(n, 1000)):  # warm-up: label children, caches
        fn(i)
    start = time.perf_counter()
    for i in range(n):
        fn(i)
    return (time.perf_counter() - start) / n * 1e6


async def per_request(n: int) -> list[tuple[str, float]]:
    ctx = _context()
    usage = ctx.usage
    assert usage is not None
    metrics = Metrics()
    stats = Stats()
    writer = UsageWriter(NullStore(), batch_size=10 * n, flush_interval=3600, max_queue=10 * n)
    record = build_record(ctx, MODEL, 200, usage, 0.05)

    def observe(i: int) -> None:
        metrics.observe(ctx, MODEL, 200, 0.05, time.perf_counter())

    def stat(i: int) -> None:
        stats.record(
            MODEL,
            ok=True,
            cache_hit=False,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cost=ctx.cost,
            latency=0.05,
            ttft=None,
        )

    def build(i: int) -> None:
        build_record(ctx, MODEL, 200, usage, 0.05)

    def submit(i: int) -> None:
        writer.submit(record)

    def everything(i: int) -> None:
        now = time.perf_counter()
        metrics.observe(ctx, MODEL, 200, 0.05, now)
        writer.submit(build_record(ctx, MODEL, 200, usage, 0.05))
        stat(i)

    out = [
        ("Metrics.observe", _per_call_us(observe, n)),
        ("Stats.record", _per_call_us(stat, n)),
        ("build_record", _per_call_us(build, n)),
        ("UsageWriter.submit", _per_call_us(submit, n)),
        ("all four", _per_call_us(everything, n)),
    ]
    await writer.aclose()
    return out


async def per_row(url: str, rows: int, batch: int) -> float:
    """Microseconds per row inserted with ``UsageRepository.insert`` in batches of ``batch``."""
    db = Database(url)
    try:
        await db.migrate()
        repo = UsageRepository(db)
        ctx = _context()
        assert ctx.usage is not None
        base = build_record(ctx, MODEL, 200, ctx.usage, 0.05)
        records = [replace(base, request_id=f"req_bench_{time.time_ns()}_{i}") for i in range(rows)]
        await repo.insert(records[:batch])  # warm-up: connection, statement cache
        rest = records[batch:]
        start = time.perf_counter()
        for i in range(0, len(rest), batch):
            await repo.insert(rest[i : i + batch])
        return (time.perf_counter() - start) / max(1, len(rest)) * 1e6
    finally:
        await db.aclose()


class _Server(Protocol):
    @property
    def url(self) -> str: ...

    def stop(self) -> None: ...


def _start_postgres(workdir: str) -> _Server:
    # The tests' helper, so the bench and the contract tests run the same server setup.
    sys.path.insert(0, str(ROOT))
    from tests.conftest import PostgresServer, free_port

    server = PostgresServer(free_port(), workdir)
    server.start()
    return server


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000, help="iterations per hot-path figure")
    parser.add_argument("--rows", type=int, default=20_000, help="rows per database figure")
    parser.add_argument("--batch", type=int, default=500, help="rows per insert (batch_size)")
    parser.add_argument("--postgres", action="store_true", help="start a throwaway PostgreSQL")
    parser.add_argument("--postgres-url", help="an existing PostgreSQL (postgresql+asyncpg://)")
    args = parser.parse_args()

    print(f"per request, {args.n} iterations (µs/request)")
    for name, us in await per_request(args.n):
        print(f"  {name:<20} {us:8.2f}")

    print(f"usage rows, {args.rows} rows in batches of {args.batch} (µs/row)")
    with tempfile.TemporaryDirectory(prefix="lockgate-bench-") as tmp:
        sqlite = await per_row(f"sqlite+aiosqlite:///{tmp}/bench.db", args.rows, args.batch)
        print(f"  {'SQLite':<20} {sqlite:8.2f}")
        url = args.postgres_url
        server: _Server | None = None
        if args.postgres and url is None:
            pg_dir = tempfile.mkdtemp(prefix="lockgate-bench-pg-")
            server = _start_postgres(pg_dir)
            url = server.url
        try:
            if url is not None:
                pg = await per_row(url, args.rows, args.batch)
                print(f"  {'PostgreSQL':<20} {pg:8.2f}")
        finally:
            if server is not None:
                server.stop()
                shutil.rmtree(pg_dir, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
