"""Batch writes in a writer process: rows land, errors keep their kind, a dead, killed or
hung writer process is replaced and its batch written again, nothing acknowledged is lost.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError
from tests.audit.conftest import make_record
from tests.hardening.conftest import backend_database, migrated, usage_rows

from lockgate.audit.crypto import BodyCipher
from lockgate.audit.entry import decrypt_body
from lockgate.audit.repository import AuditRepository
from lockgate.audit.writer import AuditWriter
from lockgate.console.rollups import usage_hourly
from lockgate.metrics import Metrics
from lockgate.storage.database import Database
from lockgate.storage.dead_letter import DeadLetter
from lockgate.storage.write_process import RemoteWriteError, WriteProcess, WriterProcessLost
from lockgate.usage.repository import UsageRepository
from lockgate.usage.writer import UsageWriter


@pytest.fixture
async def url(tmp_path: Path) -> str:
    return await migrated(f"sqlite+aiosqlite:///{tmp_path}/writes.db")


def usage_writer(db: Database, tmp_path: Path, batch_size: int = 100) -> UsageWriter:
    return UsageWriter(
        UsageRepository(db),
        batch_size=batch_size,
        flush_interval=3600,
        dead_letter=DeadLetter(tmp_path / "usage-dl.jsonl", "usage"),
    )


def audit_writer(db: Database, tmp_path: Path, batch_size: int = 100, **options) -> AuditWriter:
    return AuditWriter(
        db,
        batch_size=batch_size,
        flush_interval=3600,
        dead_letter=DeadLetter(tmp_path / "audit-dl.jsonl", "audit"),
        **options,
    )


def process_of(db: Database) -> WriteProcess:
    process = db.write_process
    assert process is not None
    return process


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead too; and one reaped between the two looks is gone
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


# jobs of the writer process: module-level functions of a lockgate module are the only
# ones it runs, so these tests use the writers' own jobs and one of their errors


async def test_rows_rollups_and_the_audit_chain_land_through_the_process(url, tmp_path):
    """Usage rows with their rollups and a verifiable audit chain, written in another
    process; closing flushes both writers and ends that process."""
    db = Database(url, writer="process")
    usage = usage_writer(db, tmp_path)
    audit = audit_writer(db, tmp_path)
    for n in range(250):
        usage.submit(make_record(n, request_id=f"u{n}", started_at=1_700_000_000.0))
        audit.submit(make_record(n, request_id=f"a{n}"))
    await usage.flush()
    pid = process_of(db).pid
    assert pid is not None and pid != os.getpid()
    await usage.aclose()
    await audit.aclose()
    await db.aclose()
    assert not alive(pid)
    assert usage.stats.written == 250 and audit.stats.written == 250
    assert len(await usage_rows(url)) == 250
    check = Database(url)
    try:
        async with check.engine.connect() as conn:
            rollup = (await conn.execute(sa.select(usage_hourly))).mappings().all()
        result = await AuditRepository(check).verify()
    finally:
        await check.aclose()
    assert [r["requests"] for r in rollup] == [250]
    assert result.ok and result.checked == 250


async def test_a_bad_row_is_isolated_and_counted_through_the_process(url, tmp_path):
    """A duplicate id comes back as an IntegrityError: its batch-mates land, it alone is
    dead-lettered and counted."""
    db = Database(url, writer="process")
    metrics = Metrics()
    writer = usage_writer(db, tmp_path, batch_size=50)
    metrics.watch_dead_letters([writer])
    try:
        for n in range(120):
            writer.submit(make_record(n, request_id="dup" if n in (10, 11) else f"u{n}"))
        await writer.flush()
    finally:
        await writer.aclose()
        await db.aclose()
    assert len(await usage_rows(url)) == 119
    assert writer.stats.written == 119 and writer.stats.dead_lettered == 1
    assert 'lockgate_records_dead_lettered_total{sink="usage"} 1.0' in metrics.render().decode()
    text = (tmp_path / "usage-dl.jsonl").read_text()
    assert "IntegrityError" in text and '"request_id":"dup"' in text


@pytest.mark.parametrize("writer", ["process", "thread"])
async def test_a_record_that_cannot_cross_to_the_writer_is_dead_lettered(url, tmp_path, writer):
    """A record whose notes hold an object pickle refuses (a lock) is packed as nothing
    at submit: both writers write its batch-mates, and it alone goes to each dead-letter
    file, counted, never dropped."""
    import threading

    db = Database(url, writer=writer)
    usage = usage_writer(db, tmp_path, batch_size=20)
    audit = audit_writer(db, tmp_path, batch_size=20)
    odd = make_record(5, request_id="odd", notes={"held": threading.Lock()})
    try:
        for n in range(30):
            record = odd if n == 5 else make_record(n, request_id=f"r{n}")
            usage.submit(record)
            audit.submit(record)
        await usage.flush()
        await audit.flush()
    finally:
        await usage.aclose()
        await audit.aclose()
        await db.aclose()
    assert usage.stats.written == 29 and usage.stats.dead_lettered == 1
    assert audit.stats.written == 29 and audit.stats.dead_lettered == 1
    assert len(await usage_rows(url)) == 29
    for name in ("usage-dl.jsonl", "audit-dl.jsonl"):
        assert '"request_id":"odd"' in (tmp_path / name).read_text()


async def test_errors_come_back_with_their_kind(url, tmp_path):
    """Integrity and transient database errors keep their classes; other failures are
    RemoteWriteError: the writers classify them as they do on the write thread."""
    from lockgate.records import pack
    from lockgate.usage.repository import write_usage_batch

    db = Database(url, writer="process")
    away = Database(
        f"sqlite+aiosqlite:///{tmp_path}/no/such/dir/x.db", create_dirs=False, writer="process"
    )
    try:
        twice = pack([make_record(1, request_id="twice")])
        await process_of(db).run(write_usage_batch, twice)
        with pytest.raises(IntegrityError):
            await process_of(db).run(write_usage_batch, twice)
        with pytest.raises(RemoteWriteError, match="TypeError"):
            await process_of(db).run(write_usage_batch, [("too", "short")])
        with pytest.raises(OperationalError):  # transient: retried, never dead-lettered
            await process_of(away).run(write_usage_batch, pack([make_record(2)]))
        assert process_of(db).restarts == 0 and process_of(away).restarts == 0
    finally:
        await db.aclose()
        await away.aclose()


async def test_a_writer_process_killed_between_batches_is_replaced_and_counted(url, tmp_path):
    """SIGKILL while idle: the next batch starts a new process; nothing is lost, and the
    restart is on /metrics."""
    db = Database(url, writer="process")
    metrics = Metrics()
    metrics.watch_writer(db.write_process)
    writer = usage_writer(db, tmp_path)
    try:
        for n in range(30):
            writer.submit(make_record(n, request_id=f"u{n}"))
        await writer.flush()
        first = process_of(db).pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        for _ in range(500):  # bounded: until the kernel has taken it
            if not alive(first):
                break
            await asyncio.sleep(0.01)
        for n in range(30, 60):
            writer.submit(make_record(n, request_id=f"u{n}"))
        for _ in range(3):  # the batch in hand when the death is found is retried
            try:
                await writer.flush()
                break
            except WriterProcessLost:
                continue
        second = process_of(db).pid
    finally:
        await writer.aclose()
        await db.aclose()
    assert second is not None and second != first
    assert process_of(db).restarts == 1
    assert writer.stats.written == 60 and writer.stats.dead_lettered == 0
    assert {r["request_id"] for r in await usage_rows(url)} == {f"u{n}" for n in range(60)}
    assert "lockgate_writer_restarts_total 1.0" in metrics.render().decode()


async def test_a_writer_process_killed_mid_batch_loses_nothing(url, tmp_path):
    """SIGKILL while the process is inside a batch (blocked on the database's write lock):
    the batch was not acknowledged, stays queued, and is written by the next process."""
    db = Database(url, writer="process")
    writer = usage_writer(db, tmp_path)
    path = url.split("///", 1)[1]
    holder = sqlite3.connect(path, isolation_level=None, timeout=30)
    try:
        writer.submit(make_record(0, request_id="u0"))
        await writer.flush()
        process = process_of(db)
        pid = process.pid
        assert pid is not None
        holder.execute("BEGIN IMMEDIATE")  # the writer process now waits inside its batch
        for n in range(1, 40):
            writer.submit(make_record(n, request_id=f"u{n}"))
        flushing = asyncio.create_task(writer.flush())
        for _ in range(1000):  # bounded: until the batch has gone to the process
            if writer.pending == 0:
                break
            await asyncio.sleep(0.01)
        assert writer.pending == 0 and not flushing.done()
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(WriterProcessLost):
            await flushing
        assert writer.pending == 39 and writer.stats.written == 1  # back in the queue
        holder.execute("ROLLBACK")
        await writer.flush()
    finally:
        holder.close()
        await writer.aclose()
        await db.aclose()
    assert process.restarts == 1
    assert writer.stats.written == 40 and writer.stats.dead_lettered == 0
    assert {r["request_id"] for r in await usage_rows(url)} == {f"u{n}" for n in range(40)}


async def test_a_hung_writer_process_is_killed_and_its_audit_batch_written_again(url, tmp_path):
    """A process that does not answer within job_timeout is killed and replaced; the audit
    writer retries the batch, and the chain verifies with every record once."""
    db = Database(url, writer="process")
    process = process_of(db)
    writer = audit_writer(db, tmp_path, retry_delay=0.01)
    path = url.split("///", 1)[1]
    holder = sqlite3.connect(path, isolation_level=None, timeout=30)
    try:
        writer.submit(make_record(0, request_id="a0"))
        await writer.flush()
        process.job_timeout = 0.5
        holder.execute("BEGIN IMMEDIATE")  # the next batch cannot commit: the process hangs
        for n in range(1, 20):
            writer.submit(make_record(n, request_id=f"a{n}"))
        flushing = asyncio.create_task(writer.flush())
        for _ in range(3000):  # bounded: until the hang has been seen and the batch retried
            if writer.stats.errors >= 1:
                break
            await asyncio.sleep(0.01)
        assert writer.stats.errors >= 1
        process.job_timeout = 120.0
        holder.execute("ROLLBACK")
        await flushing
        rows = [row async for row in AuditRepository(db).rows()]
        result = await AuditRepository(db).verify()
    finally:
        holder.close()
        await writer.aclose()
        await db.aclose()
    assert result.ok and result.checked == 20
    assert process.restarts >= 1
    assert sorted(r["request_id"] for r in rows) == sorted(f"a{n}" for n in range(20))
    assert writer.stats.written == 20 and writer.stats.dead_lettered == 0


async def test_durable_audit_and_encrypted_bodies_through_the_process(url, tmp_path):
    """Sync durability: the future resolves once the row is committed by the other
    process; bodies are encrypted there with the same key (the cipher crosses pickled)."""
    cipher = BodyCipher(bytes(range(32)))
    db = Database(url, writer="process")
    writer = audit_writer(db, tmp_path, cipher=cipher, durable=True)
    try:
        committed = writer.submit(
            make_record(1, request_id="b1", request_body={"messages": [{"content": "hi"}]})
        )
        assert committed is not None
        await committed
        rows = [row async for row in AuditRepository(db).rows()]
    finally:
        await writer.aclose()
        await db.aclose()
    (row,) = rows
    assert row["request_id"] == "b1" and row["body_key_id"] == cipher.key_id
    assert decrypt_body(cipher, row, "request_body") == {"messages": [{"content": "hi"}]}


async def test_thread_writer_stays_in_process(url):
    """``writer="thread"`` (and in-memory SQLite) keep the batches in this process."""
    for db in (Database(url), Database("sqlite+aiosqlite:///:memory:", writer="process")):
        try:
            assert db.write_process is None

            def one(conn: sa.Connection) -> int:
                return int(conn.execute(sa.text("SELECT 1")).scalar_one())

            assert await db.write_batch(one) == 1
        finally:
            await db.aclose()


async def test_sigterm_to_the_process_group_leaves_the_writer_to_the_gateway(url, tmp_path):
    """SIGINT/SIGTERM (a terminal's Ctrl-C, a supervisor signalling the group) do not end
    the writer process: the gateway flushes its queues through it, then closes its input."""
    db = Database(url, writer="process")
    writer = usage_writer(db, tmp_path)
    try:
        writer.submit(make_record(0, request_id="u0"))
        await writer.flush()
        pid = process_of(db).pid
        assert pid is not None
        os.kill(pid, signal.SIGTERM)
        os.kill(pid, signal.SIGINT)
        for n in range(1, 10):
            writer.submit(make_record(n, request_id=f"u{n}"))
        await writer.flush()
        assert process_of(db).pid == pid
    finally:
        await writer.aclose()
        await db.aclose()
    assert process_of(db).restarts == 0 and not alive(pid)
    assert writer.stats.written == 10


@pytest.fixture(params=["sqlite", "postgres"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated database on each backend (Postgres: a fresh database on the test cluster)."""
    return await backend_database(request, tmp_path, "backend")


async def test_both_backends_write_usage_and_a_verifiable_chain_through_the_process(
    backend, tmp_path
):
    """SQLite (its plain driver in the writer process) and Postgres (its async driver
    there): rows, rollups and an audit chain that verifies; a bad row isolated."""
    db = Database(backend, writer="process")
    usage = usage_writer(db, tmp_path, batch_size=40)
    audit = AuditWriter(
        db,
        batch_size=40,
        flush_interval=3600,
        dead_letter=DeadLetter(tmp_path / "a.jsonl", "audit"),
    )
    try:
        for n in range(100):
            usage.submit(make_record(n, request_id="dup" if n in (5, 6) else f"u{n}"))
            audit.submit(make_record(n, request_id=f"a{n}"))
        await usage.flush()
        await audit.flush()
        async with db.engine.connect() as conn:
            requests = (
                await conn.execute(sa.select(sa.func.sum(usage_hourly.c.requests)))
            ).scalar_one()
        result = await AuditRepository(db).verify()
    finally:
        await usage.aclose()
        await audit.aclose()
        await db.aclose()
    assert usage.stats.written == 99 and usage.stats.dead_lettered == 1
    assert requests == 99
    assert result.ok and result.checked == 100 and audit.stats.written == 100


def test_the_writer_process_holds_no_inherited_descriptor(url, tmp_path):
    """Under uvloop (which does not close inherited descriptors for a child) the writer
    process still holds only its pipes: an inherited listening socket would keep accepting
    connections after the gateway closed its listener (the drain test's symptom)."""
    import socket

    import uvloop

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.set_inheritable(True)

    async def held() -> list[str]:
        db = Database(url, writer="process")
        writer = usage_writer(db, tmp_path)
        try:
            writer.submit(make_record(0, request_id="u0"))
            await writer.flush()
            pid = process_of(db).pid
            fds = sorted(os.listdir(f"/proc/{pid}/fd"), key=int)
            return [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in fds if int(fd) > 2]
        finally:
            await writer.aclose()
            await db.aclose()

    inode = f"socket:[{os.fstat(listener.fileno()).st_ino}]"
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            links = runner.run(held())
    finally:
        listener.close()
    assert links and inode not in links
