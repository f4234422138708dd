"""The audit writer: off the request path, batched, chained, nothing lost on shutdown."""

from __future__ import annotations

import asyncio
import time

import sqlalchemy as sa
from tests.audit.conftest import audit_rows, make_record, settings_for
from tests.support import bearer

from lockgate.audit.repository import AuditRepository
from lockgate.audit.writer import AuditWriter
from lockgate.storage.database import Database

CHAT = {"model": "mock", "messages": [{"role": "user", "content": "hi"}]}


async def wait_until(predicate, seconds: float = 10.0) -> None:
    """Poll ``predicate`` every 10 ms, at most ``seconds``."""
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


async def test_submit_does_no_io_and_rows_appear_on_flush(db, repo):
    """Submitting only queues; the rows are written when the writer flushes."""
    writer = AuditWriter(db, batch_size=1000, flush_interval=60)
    for n in range(10):
        writer.submit(make_record(n))
    assert writer.queued == 10
    assert await repo.count() == 0
    await asyncio.wait_for(writer.flush(), 10)
    assert await repo.count() == 10 and writer.queued == 0
    await writer.aclose()
    assert writer.stats.written == 10 and writer.stats.batches == 1


async def test_full_batch_is_written_without_waiting_for_the_interval(db, repo):
    """A full batch wakes the writer at once, long before the flush interval."""
    writer = AuditWriter(db, batch_size=5, flush_interval=3600)
    for n in range(5):
        writer.submit(make_record(n))
    await wait_until(lambda: writer.stats.written == 5)
    assert await repo.count() == 5
    await writer.aclose()


async def test_batches_are_bounded_by_batch_size(db, repo):
    """1050 records with batch_size 500 go in three transactions, in submit order."""
    writer = AuditWriter(db, batch_size=500, flush_interval=60)
    for n in range(1050):
        writer.submit(make_record(n))
    await writer.aclose()
    assert (writer.stats.written, writer.stats.batches) == (1050, 3)
    ids = [row["request_id"] async for row in repo.rows()]
    assert ids == [f"req-{n}" for n in range(1050)]
    result = await repo.verify()
    assert result.ok and result.checked == 1050 and result.head.seq == 1049


async def test_full_queue_drops_and_counts(db, repo):
    """Beyond max_queue records are refused and counted, never blocking the caller."""
    writer = AuditWriter(db, batch_size=100, flush_interval=60, max_queue=5)
    for n in range(8):
        writer.submit(make_record(n))
    await writer.aclose()
    assert (writer.stats.written, writer.stats.dropped) == (5, 3)
    assert await repo.count() == 5


async def test_submit_after_close_is_dropped(db, repo):
    """A record arriving after shutdown began is counted as dropped, not silently lost."""
    writer = AuditWriter(db, flush_interval=60)
    writer.submit(make_record(0))
    await writer.aclose()
    writer.submit(make_record(1))
    assert writer.stats.dropped == 1 and await repo.count() == 1


async def test_database_outage_is_retried_without_loss(db, repo):
    """While the table is unreachable batches are retried; afterwards every record is there."""
    async with db.engine.begin() as conn:
        await conn.execute(sa.text("ALTER TABLE audit_log RENAME TO audit_log_away"))
    writer = AuditWriter(db, batch_size=10, flush_interval=0.01, retry_delay=0.01)
    for n in range(25):
        writer.submit(make_record(n))
    await wait_until(lambda: writer.stats.errors >= 2)
    assert writer.stats.written == 0
    async with db.engine.begin() as conn:
        await conn.execute(sa.text("ALTER TABLE audit_log_away RENAME TO audit_log"))
    await asyncio.wait_for(writer.flush(), 10)
    await writer.aclose()
    assert await repo.count() == 25 and (await repo.verify()).ok


async def test_chain_resumes_after_restart(db, db_url, repo):
    """A new writer (new process, new engine) continues the chain of the old one."""
    first = AuditWriter(db, flush_interval=60)
    for n in range(10):
        first.submit(make_record(n))
    await first.aclose()
    other_db = Database(db_url)
    second = AuditWriter(other_db, flush_interval=60)
    for n in range(10, 20):
        second.submit(make_record(n))
    await second.aclose()
    await other_db.aclose()
    result = await repo.verify()
    assert result.ok and result.checked == 20 and result.head.seq == 19


async def test_two_replicas_keep_one_linear_chain(db, db_url, repo):
    """Two writers on separate engines appending at once produce one gap-free chain."""
    other_db = Database(db_url)
    writers = [
        AuditWriter(db, batch_size=7, flush_interval=0.001),
        AuditWriter(other_db, batch_size=7, flush_interval=0.001),
    ]
    for n in range(300):
        writers[n % 2].submit(make_record(n))
        if n % 20 == 0:
            await asyncio.sleep(0)
    await asyncio.gather(*(w.aclose() for w in writers))
    await other_db.aclose()
    rows = [row async for row in repo.rows()]
    assert [row["seq"] for row in rows] == list(range(300))
    assert sorted(row["request_id"] for row in rows) == sorted(f"req-{n}" for n in range(300))
    assert (await repo.verify()).ok


async def test_odd_note_values_are_stored_as_text_and_verify(db, repo):
    """Notes holding non-JSON values are stored as their text and still verify."""
    writer = AuditWriter(db, flush_interval=60)
    writer.submit(make_record(0, notes={"when": {1, 2}.__class__.__name__, "obj": object()}))
    writer.submit(make_record(1, notes={3: "int key", "f": 0.1 + 0.2}))
    await writer.aclose()
    rows = [row async for row in repo.rows()]
    assert rows[0]["record"]["notes"]["obj"].startswith("<object object")
    assert rows[1]["record"]["notes"] == {"3": "int key", "f": 0.1 + 0.2}
    assert (await repo.verify()).ok


async def test_gateway_shutdown_flushes_every_record(db_url, open_gateway):
    """500 requests, then shutdown: 500 audit rows, even with a flush interval of an hour."""
    settings = settings_for(db_url, audit={"flush_interval_seconds": 3600, "batch_size": 10_000})
    async with open_gateway(settings) as client:
        for start in range(0, 500, 50):
            rs = await asyncio.gather(
                *(
                    client.post(
                        "/v1/chat/completions",
                        json=CHAT,
                        headers={**bearer(), "x-request-id": f"r{n}"},
                    )
                    for n in range(start, start + 50)
                )
            )
            assert {r.status_code for r in rs} == {200}
        assert await audit_rows(db_url) == []  # nothing written on the request path
    rows = await audit_rows(db_url)
    assert len(rows) == 500
    assert {row["record"]["client_request_id"] for row in rows} == {f"r{n}" for n in range(500)}
    other = Database(db_url)
    try:
        assert (await AuditRepository(other).verify()).checked == 500
    finally:
        await other.aclose()


async def test_audit_disabled_writes_nothing(db_url, open_gateway):
    """With audit.enabled false the gateway keeps no audit rows."""
    async with open_gateway(settings_for(db_url, audit={"enabled": False})) as client:
        r = await client.post("/v1/chat/completions", json=CHAT, headers=bearer())
        assert r.status_code == 200
    assert await audit_rows(db_url) == []
