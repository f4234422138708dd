"""Written batches are let go a slice per loop pass (storage/release.py): the list empties
over several passes, and the usage and audit writers keep no record once it is written."""

from __future__ import annotations

import asyncio
import sys

import pytest
from tests.audit.conftest import make_record

from lockgate.audit.writer import AuditWriter
from lockgate.storage.database import Database
from lockgate.storage.release import release
from lockgate.usage.repository import UsageRepository
from lockgate.usage.writer import UsageWriter


async def passes(n: int) -> None:
    """Let the loop run ``n`` passes."""
    for _ in range(n):
        await asyncio.sleep(0)


async def test_a_slice_is_freed_per_loop_pass():
    """100 entries, 10 a pass: 90 left after the call, fewer each pass, none after ten."""
    items = [object() for _ in range(100)]
    release(items, step=10)
    assert len(items) == 90
    left = [len(items)]
    for _ in range(9):
        await passes(1)
        left.append(len(items))
    assert left == [90, 80, 70, 60, 50, 40, 30, 20, 10, 0]


async def test_a_short_list_is_freed_at_once():
    """No more entries than a slice: nothing is left for later passes."""
    items = [object() for _ in range(5)]
    release(items, step=10)
    assert items == []


def test_without_a_running_loop_everything_is_freed_at_once():
    """Outside a loop (a shutdown path) there is no later pass to wait for."""
    items = [object() for _ in range(100)]
    release(items, step=10)
    assert items == []


def refs(records: list) -> list[int]:
    """Each record's reference count (compared with the count before it was queued)."""
    return [sys.getrefcount(r) for r in records]


def usage_writer(db: Database) -> UsageWriter:
    return UsageWriter(UsageRepository(db), batch_size=201, flush_interval=60)


def audit_writer(db: Database) -> AuditWriter:
    return AuditWriter(db, batch_size=201, flush_interval=60)


@pytest.mark.parametrize("make", [usage_writer, audit_writer])
async def test_a_writer_keeps_no_written_record(tmp_path, make):
    """After a batch of 201 is written and a few passes ran, the usage and the audit
    writer hold none of its records."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/w.db")
    await db.migrate()
    writer = make(db)
    try:
        records = [make_record(n) for n in range(200)]
        before = refs(records)
        for i in range(len(records)):
            writer.submit(records[i])
        writer.submit(make_record(200))  # packed()'s one-record memo moves on to this one
        assert [a - b for a, b in zip(refs(records), before, strict=True)] == [1] * 200
        await asyncio.wait_for(writer.flush(), 30)
        assert writer.stats.written == 201
        await passes(10)
        assert refs(records) == before
    finally:
        await writer.aclose()
        await db.aclose()
