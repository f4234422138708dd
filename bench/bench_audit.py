"""Cost of the audit log: submit on the request path, batched writes and verification.

    PYTHONPATH=src:. python bench/bench_audit.py [-n 20000] [--database-url URL]

* submit: µs per ``AuditWriter.submit`` (what a request pays), measured with the
  writer idle so only the queue append is timed;
* write: µs per record of the background work (encode, encrypt when bodies are on,
  chain, insert in one transaction per batch), per batch size, with and without
  bodies;
* verify: µs per row of ``AuditRepository.verify``;
* durability sync: ``C`` concurrent "requests" each submit a record and wait for its
  commit (group commit), for several ``C``: records/s and the wait per request
  (p50/p99 with a 95% bootstrap CI of the p50).

Without ``--database-url`` a fresh SQLite file in a temp directory is used.  Never
point it at a database that holds an audit log you care about: the table is emptied.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time

import sqlalchemy as sa
from tests.audit.conftest import make_record

from lockgate.audit.crypto import BodyCipher
from lockgate.audit.repository import AuditRepository
from lockgate.audit.tables import audit_checkpoints, audit_log
from lockgate.audit.writer import AuditWriter
from lockgate.records import RequestRecord
from lockgate.storage.database import Database

BODY = {
    "model": "gpt-4o-mini",
    "messages": [
        {"role": "system", "content": "You are a helpful assistant. " * 10},
        {"role": "user", "content": "Summarise the attached quarterly report. " * 20},
    ],
}
ANSWER = {"choices": [{"message": {"role": "assistant", "content": "The report says " * 40}}]}


async def empty(db: Database) -> None:
    async with db.engine.begin() as conn:
        await conn.execute(sa.delete(audit_log))
        await conn.execute(sa.delete(audit_checkpoints))


def records(n: int, bodies: bool) -> list[RequestRecord]:
    extra = {"request_body": BODY, "response_body": ANSWER} if bodies else {}
    return [make_record(i, **extra) for i in range(n)]


async def bench_submit(db: Database, n: int) -> float:
    """µs per submit, median of 5 rounds (the writer never runs during the loop)."""
    rounds = []
    for _ in range(5):
        writer = AuditWriter(db, batch_size=n + 1, flush_interval=3600, max_queue=n + 1)
        batch = records(n, bodies=False)
        started = time.perf_counter()
        for record in batch:
            writer.submit(record)
        rounds.append((time.perf_counter() - started) / n * 1e6)
        await writer.aclose()
        await empty(db)
    return statistics.median(rounds)


async def bench_write(db: Database, n: int, batch_size: int, bodies: bool) -> tuple[float, int]:
    """µs of background work per record, and the batches it took."""
    await empty(db)
    cipher = BodyCipher(bytes(range(32))) if bodies else None
    writer = AuditWriter(db, cipher=cipher, batch_size=batch_size, flush_interval=3600)
    batch = records(n, bodies)
    for record in batch:
        writer.submit(record)
    started = time.perf_counter()
    await writer.aclose()
    elapsed = time.perf_counter() - started
    return elapsed / n * 1e6, writer.stats.batches


async def bench_verify(db: Database) -> tuple[float, int]:
    repo = AuditRepository(db)
    started = time.perf_counter()
    result = await repo.verify()
    elapsed = time.perf_counter() - started
    assert result.ok, result
    return elapsed / max(1, result.checked) * 1e6, result.checked


def _bootstrap_ci(values: list[float], q: float, rounds: int = 500) -> tuple[float, float]:
    import random

    rng = random.Random(7)
    picks = []
    for _ in range(rounds):
        sample = sorted(rng.choices(values, k=len(values)))
        picks.append(sample[int(q * (len(sample) - 1))])
    picks.sort()
    return picks[int(0.025 * rounds)], picks[int(0.975 * rounds)]


async def bench_sync(db: Database, n: int, concurrency: int) -> None:
    """Records/s and commit wait per request with ``durable=True``, ``concurrency`` at once."""
    await empty(db)
    writer = AuditWriter(db, batch_size=500, flush_interval=3600, durable=True)
    batch = records(n, bodies=False)
    waits: list[float] = []
    it = iter(batch)

    async def client() -> None:
        for record in it:
            t0 = time.perf_counter()
            fut = writer.submit(record)
            assert fut is not None
            await fut
            waits.append(time.perf_counter() - t0)

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    await writer.aclose()
    waits.sort()
    p50, p99 = waits[len(waits) // 2], waits[int(0.99 * (len(waits) - 1))]
    lo, hi = _bootstrap_ci(waits, 0.5)
    print(
        f"sync, {concurrency:>3} concurrent: {n / elapsed:8,.0f} records/s,"
        f" commit wait p50 {p50 * 1e3:.2f} ms (95% CI {lo * 1e3:.2f}-{hi * 1e3:.2f}),"
        f" p99 {p99 * 1e3:.2f} ms, {writer.stats.batches} commits for {n} records"
    )


async def main(n: int, url: str | None) -> None:
    tmp = tempfile.TemporaryDirectory(prefix="bench-audit-")
    db = Database(url or f"sqlite+aiosqlite:///{tmp.name}/audit.db")
    await db.migrate()
    await empty(db)
    print(f"database: {db.url.split('@')[-1]}  records: {n}")
    print(f"submit (request path): {await bench_submit(db, n):.3f} µs/record")
    for bodies in (False, True):
        for batch_size in (100, 500, 2000):
            per, batches = await bench_write(db, n, batch_size, bodies)
            label = "with bodies (AES-GCM)" if bodies else "no bodies"
            print(
                f"write, batch {batch_size:>4}, {label:<21}: {per:7.2f} µs/record"
                f"  ({1e6 / per:,.0f} records/s, {batches} batches)"
            )
    per, checked = await bench_verify(db)
    print(f"verify: {per:.2f} µs/row over {checked} rows ({1e6 / per:,.0f} rows/s)")
    for concurrency in (1, 8, 32, 128):
        await bench_sync(db, min(n, 5000), concurrency)
    await empty(db)
    await db.aclose()
    tmp.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=20_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    asyncio.run(main(args.n, args.database_url))
