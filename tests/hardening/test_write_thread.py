"""Batch writes off the request loop: the database's write thread (its own loop and engine).

The usage and audit writers queue on the request loop and write on the thread; rows
land, a bad row is isolated and counted, and closing flushes before the thread ends.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.audit.conftest import make_record
from tests.hardening.conftest import migrated, usage_rows

from lockgate.audit.repository import AuditRepository
from lockgate.audit.writer import AuditWriter
from lockgate.console.rollups import usage_hourly
from lockgate.metrics import Metrics
from lockgate.storage.database import Database
from lockgate.storage.dead_letter import DeadLetter
from lockgate.usage.repository import UsageRepository
from lockgate.usage.writer import UsageWriter

THREAD = "lockgate-db-writes"


def write_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == THREAD]


@pytest.fixture
async def url(tmp_path: Path) -> str:
    return await migrated(f"sqlite+aiosqlite:///{tmp_path}/writes.db")


async def test_work_runs_on_a_thread_with_its_own_loop_and_engine(url):
    """``write`` runs the work elsewhere and hands back its result and its exception."""
    db = Database(url)
    here = (threading.get_ident(), asyncio.get_running_loop())
    seen: list[tuple[int, asyncio.AbstractEventLoop, AsyncEngine]] = []

    async def where(engine: AsyncEngine) -> int:
        seen.append((threading.get_ident(), asyncio.get_running_loop(), engine))
        async with engine.connect() as conn:
            return int((await conn.execute(sa.text("SELECT 41 + 1"))).scalar_one())

    async def duplicate(engine: AsyncEngine) -> None:
        async with engine.begin() as conn:
            await conn.execute(sa.text("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
            await conn.execute(sa.text("INSERT INTO t VALUES (1), (1)"))

    try:
        assert await db.write(where) == 42
        assert await db.write(where) == 42
        with pytest.raises(IntegrityError):
            await db.write(duplicate)
        assert len(write_threads()) == 1
    finally:
        await db.aclose()
    (thread, loop, engine), again = seen
    assert thread != here[0] and loop is not here[1] and engine is not db.engine
    assert again == (thread, loop, engine)  # one thread, one loop, one engine
    assert write_threads() == []


async def test_closed_database_writes_again_on_a_new_thread(url):
    """Like a disposed engine, a closed database can still write (a fresh thread)."""
    db = Database(url)

    async def one(engine: AsyncEngine) -> int:
        return 1

    await db.write(one)
    await db.aclose()
    assert write_threads() == []
    try:
        assert await db.write(one) == 1
    finally:
        await db.aclose()
    assert write_threads() == []


async def test_in_memory_sqlite_writes_on_the_callers_loop():
    """An in-memory database exists in one engine only: no thread, the main engine."""
    db = Database("sqlite+aiosqlite:///:memory:")
    loop = asyncio.get_running_loop()

    async def which(engine: AsyncEngine) -> bool:
        return engine is db.engine and asyncio.get_running_loop() is loop

    try:
        assert await db.write(which)
        assert write_threads() == []
    finally:
        await db.aclose()


async def test_usage_rows_and_rollups_land_through_the_thread(url, tmp_path):
    """Batches written on the thread keep rows and their rollups in one transaction."""
    db = Database(url)
    writer = UsageWriter(
        UsageRepository(db),
        batch_size=200,
        flush_interval=60,
        dead_letter=DeadLetter(tmp_path / "dl.jsonl", "usage"),
    )
    try:
        for n in range(450):
            writer.submit(make_record(n, request_id=f"u{n}", started_at=1_700_000_000.0))
        await writer.flush()
        assert len(write_threads()) == 1
        async with db.engine.connect() as conn:
            rollup = (await conn.execute(sa.select(usage_hourly))).mappings().all()
    finally:
        await writer.aclose()
        await db.aclose()
    assert len(await usage_rows(url)) == 450
    assert writer.stats.written == 450 and writer.stats.dropped == 0
    assert [r["requests"] for r in rollup] == [450]


async def test_bad_usage_row_is_isolated_and_counted_on_the_thread(url, tmp_path):
    """A duplicate id in a batch: its batch-mates land, it alone is dead-lettered and counted."""
    db = Database(url)
    metrics = Metrics()
    writer = UsageWriter(
        UsageRepository(db),
        batch_size=50,
        flush_interval=60,
        dead_letter=DeadLetter(tmp_path / "dl.jsonl", "usage"),
    )
    metrics.watch_dead_letters([writer])
    try:
        for n in range(120):
            writer.submit(make_record(n, request_id="dup" if n in (10, 11) else f"u{n}"))
        await writer.flush()
        async with db.engine.connect() as conn:
            rollup_requests = (
                await conn.execute(sa.select(sa.func.sum(usage_hourly.c.requests)))
            ).scalar_one()
    finally:
        await writer.aclose()
        await db.aclose()
    assert len(await usage_rows(url)) == 119
    assert writer.stats.written == 119 and writer.stats.dead_lettered == 1
    assert rollup_requests == 119  # the refused row's rollup rolled back with it
    assert 'lockgate_records_dead_lettered_total{sink="usage"} 1.0' in metrics.render().decode()


async def test_close_flushes_both_writers_before_the_thread_ends(url, tmp_path):
    """Records still queued at shutdown are written (usage and audit), then the thread stops."""
    db = Database(url)
    usage = UsageWriter(
        UsageRepository(db),
        batch_size=1000,
        flush_interval=3600,
        dead_letter=DeadLetter(tmp_path / "u.jsonl", "usage"),
    )
    audit = AuditWriter(
        db,
        batch_size=1000,
        flush_interval=3600,
        dead_letter=DeadLetter(tmp_path / "a.jsonl", "audit"),
    )
    for n in range(300):
        usage.submit(make_record(n, request_id=f"u{n}"))
        audit.submit(make_record(n, request_id=f"a{n}"))
    assert usage.stats.written == 0 and audit.stats.written == 0
    await usage.aclose()
    await audit.aclose()
    await db.aclose()
    assert write_threads() == []
    assert usage.stats.written == 300 and audit.stats.written == 300
    assert len(await usage_rows(url)) == 300
    check = Database(url)
    try:
        result = await AuditRepository(check).verify()
    finally:
        await check.aclose()
    assert result.ok and result.checked == 300
