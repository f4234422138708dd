"""The usage and audit writers' queues are bounded in bytes, and nothing beyond is lost
silently: a stalled database (its table renamed away) makes the queue fill to its byte
bound; what comes after goes to the dead-letter file (``overflow: dead_letter``) or is
dropped (``overflow: drop``), counted on /metrics either way.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from structlog.testing import capture_logs
from tests.audit.conftest import make_record, settings_for
from tests.observability.scrape import samples, value

from lockgate.audit.sinks import build_audit_sinks
from lockgate.audit.writer import AuditWriter
from lockgate.metrics import Metrics
from lockgate.storage.database import Database
from lockgate.storage.dead_letter import DeadLetter
from lockgate.storage.record_queue import record_bytes
from lockgate.usage.repository import UsageRepository
from lockgate.usage.sinks import build_usage_sinks
from lockgate.usage.writer import UsageWriter

BOUND = 64 * 1024


def dead_ids(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [json.loads(line)["record"]["request_id"] for line in path.read_text().splitlines()]


def dead_errors(path: Path) -> set[str]:
    return {json.loads(line)["error"].split(":")[0] for line in path.read_text().splitlines()}


async def until(cond: Any, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not cond():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


async def stalled(tmp_path: Path, table: str) -> Database:
    """A migrated SQLite database whose ``table`` is renamed away (writes fail, retried)."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/q.db")
    await db.migrate()
    async with db.engine.begin() as conn:
        await conn.execute(sa.text(f"ALTER TABLE {table} RENAME TO {table}_away"))
    return db


async def restore(db: Database, table: str) -> None:
    async with db.engine.begin() as conn:
        await conn.execute(sa.text(f"ALTER TABLE {table}_away RENAME TO {table}"))


def usage_writer(db: Database, dl: Path, **options: Any) -> UsageWriter:
    """A usage writer on ``db`` bounded at 64 KiB, spilling to ``dl``; ``options`` override."""
    kwargs: dict[str, Any] = {"flush_interval": 60, "max_queue_bytes": BOUND}
    kwargs.update(overflow="dead_letter", dead_letter=DeadLetter(dl, "usage"))
    kwargs.update(options)
    return UsageWriter(UsageRepository(db), **kwargs)


def audit_writer(db: Database, dl: Path, **options: Any) -> AuditWriter:
    """An audit writer on ``db`` retrying fast, spilling to ``dl``; ``options`` override."""
    kwargs: dict[str, Any] = {"flush_interval": 60, "retry_delay": 0.01, "max_retry_delay": 0.05}
    kwargs.update(overflow="dead_letter", dead_letter=DeadLetter(dl, "audit"))
    kwargs.update(options)
    return AuditWriter(db, **kwargs)


async def usage_ids(db: Database) -> list[str]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(sa.text("SELECT request_id FROM usage_records"))
        return [r[0] for r in rows]


async def test_usage_queue_stops_at_its_byte_bound_and_spills_the_rest(tmp_path):
    """200 records into a 64 KiB queue while the database is stalled: the queue holds at
    most 64 KiB (by its estimate), the rest are in the dead-letter file with the error
    QueueFull and counted; once the database is back every record is in exactly one
    of the two places."""
    db = await stalled(tmp_path, "usage_records")
    dl = tmp_path / "usage-dl.jsonl"
    writer = usage_writer(db, dl, batch_size=10, flush_interval=0.05)
    metrics = Metrics()
    metrics.watch_dead_letters([writer])
    metrics.watch_memory([writer])
    sent = [f"req-{n}" for n in range(200)]
    try:
        for n in range(200):
            writer.submit(make_record(n))
            (queue, _entries, nbytes), _spill = writer.memory_sizes()
            assert queue == "usage_queue" and nbytes <= BOUND
        held = writer.pending
        assert 0 < held < 200
        # the file is written on a thread; the spill is counted once the loop has the result
        await until(lambda: writer.bound.spilled == 200 - held)
        page = samples(metrics.render().decode())
        assert value(page, "lockgate_records_spilled_total", sink="usage") == 200 - held
        assert value(page, "lockgate_records_dropped_total", sink="usage", reason="queue_full") == 0
        assert value(page, "lockgate_memory_bytes", cache="usage_queue") <= BOUND
        # a batch of up to 10 may be out of the queue, in flight to the stalled database
        assert held - 10 <= value(page, "lockgate_memory_entries", cache="usage_queue") <= held
        assert dead_errors(dl) == {"QueueFull"}
        await restore(db, "usage_records")
        await until(lambda: writer.pending == 0)
        await writer.aclose()
        written = await usage_ids(db)
    finally:
        await db.aclose()
    assert sorted(written + dead_ids(dl)) == sorted(sent)
    assert len(written) == held and writer.stats.dropped == 0
    assert writer.memory_sizes()[0][2] == 0


async def test_a_large_record_overflows_by_bytes_before_the_entry_bound(tmp_path):
    """One record with a 100 KB captured body does not fit a 64 KiB queue that holds
    only a few small records: the bound is bytes, not entries."""
    db = await stalled(tmp_path, "usage_records")
    dl = tmp_path / "usage-dl.jsonl"
    writer = usage_writer(db, dl, max_queue=100_000)
    big = make_record(1, request_id="big", request_body={"content": "x" * 100_000})
    assert record_bytes(big) > BOUND
    try:
        writer.submit(make_record(0))
        writer.submit(big)
        writer.submit(make_record(2))
        assert writer.pending == 2
        await until(lambda: dead_ids(dl) == ["big"])
    finally:
        await restore(db, "usage_records")
        await writer.aclose()
        await db.aclose()


async def test_drop_policy_counts_and_logs_every_loss(tmp_path):
    """``overflow: drop``: beyond the bound records are lost, and the loss is on /metrics
    by reason, in the writer's stats and in the log; none reaches the dead-letter file."""
    db = await stalled(tmp_path, "usage_records")
    dl = tmp_path / "usage-dl.jsonl"
    writer = usage_writer(db, dl, overflow="drop")
    metrics = Metrics()
    metrics.watch_dead_letters([writer])
    try:
        with capture_logs() as logs:
            for n in range(200):
                writer.submit(make_record(n))
        lost = 200 - writer.pending
        assert lost > 0 and writer.stats.dropped == lost
        page = samples(metrics.render().decode())
        assert value(page, "lockgate_records_dropped_total", sink="usage", reason="queue_full") == (
            lost
        )
        assert value(page, "lockgate_records_spilled_total", sink="usage") == 0
        assert not dl.exists()
    finally:
        await restore(db, "usage_records")
        await writer.aclose()
        await db.aclose()
    said = [e["dropped"] for e in logs if e["event"].startswith("records dropped")]
    assert said and said[0] == 1 and said == sorted(said) and all(n & (n - 1) == 0 for n in said)


async def test_durable_audit_record_beyond_the_bound_resolves_once_in_the_file(tmp_path):
    """``durability: sync``: a record that does not fit is not committed to the log, so
    its future resolves only once it is in the dead-letter file (never unaccounted)."""
    db = await stalled(tmp_path, "audit_log")
    dl = tmp_path / "audit-dl.jsonl"
    writer = audit_writer(db, dl, max_queue=3, durable=True, close_timeout=10)
    try:
        waiters = [writer.submit(make_record(n)) for n in range(5)]
        spilled = waiters[3:]
        assert all(w is not None for w in waiters)
        await asyncio.wait_for(asyncio.gather(*spilled), 30)  # type: ignore[arg-type]
        assert sorted(dead_ids(dl)) == ["req-3", "req-4"]
        assert writer.bound.spilled == 2 and writer.stats.dropped == 0
    finally:
        await restore(db, "audit_log")
        await writer.aclose()
        await db.aclose()


async def test_audit_records_unwritten_at_shutdown_go_to_the_file(tmp_path):
    """The database never comes back: closing gives up after close_timeout, and what was
    still queued is in the dead-letter file, counted, instead of lost."""
    db = await stalled(tmp_path, "audit_log")
    dl = tmp_path / "audit-dl.jsonl"
    writer = audit_writer(db, dl, batch_size=5, close_timeout=0.5)
    metrics = Metrics()
    metrics.watch_dead_letters([writer])
    try:
        for n in range(12):
            writer.submit(make_record(n))
        await until(lambda: writer.stats.errors >= 1)  # the first batch of 5 is in flight
        await writer.aclose()
    finally:
        await db.aclose()
    page = samples(metrics.render().decode())
    rescued = dead_ids(dl)
    assert sorted(rescued) == sorted(f"req-{n}" for n in range(5, 12))
    assert value(page, "lockgate_records_spilled_total", sink="audit") == 7
    assert value(page, "lockgate_records_dropped_total", sink="audit", reason="shutdown") == 5
    assert writer.stats.dropped == 5


async def test_config_sets_the_bound_and_the_policy(tmp_path):
    """``usage``/``audit`` ``max_queue_bytes`` and ``overflow`` reach the writers; the
    default keeps overflow in the dead-letter file."""
    url = f"sqlite+aiosqlite:///{tmp_path}/c.db"
    settings = settings_for(
        url,
        usage={"max_queue_bytes": 1 << 20, "overflow": "drop"},
        audit={"max_queue_bytes": 2 << 20},
    )
    db = Database(url)
    try:
        (usage,) = (s for s in build_usage_sinks(settings, db) if isinstance(s, UsageWriter))
        (audit,) = build_audit_sinks(settings, db)
    finally:
        await db.aclose()
    assert isinstance(audit, AuditWriter)
    assert (usage.bound.max_bytes, usage.bound.policy) == (1 << 20, "drop")
    assert (audit.bound.max_bytes, audit.bound.policy) == (2 << 20, "dead_letter")
    defaults = settings_for(url)
    assert defaults.usage.overflow == "dead_letter" and defaults.usage.max_queue_bytes == 32 << 20
