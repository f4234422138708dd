"""The audit log behaves the same on SQLite and on PostgreSQL (a real server on loopback)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa
from tests.audit.conftest import KEY_HEX, audit_rows, make_record, settings_for
from tests.support import bearer

from lockgate.audit.crypto import BodyCipher
from lockgate.audit.entry import decrypt_body
from lockgate.audit.repository import AuditRepository
from lockgate.audit.writer import AuditWriter
from lockgate.storage.database import Database


@pytest.fixture()
async def bdb(backend_url: str) -> AsyncIterator[Database]:
    """The backend's database, migrated."""
    database = Database(backend_url)
    await database.migrate()
    yield database
    await database.aclose()


async def write(db: Database, ids: range, **options) -> AuditWriter:
    """Write records ``ids`` through a writer and close it."""
    writer = AuditWriter(db, flush_interval=60, **options)
    for n in ids:
        writer.submit(make_record(n, request_body={"n": n}))
    await writer.aclose()
    return writer


async def test_batches_verify_in_order(bdb):
    """Rows come back in seq order and verify, across several batches."""
    await write(bdb, range(120), batch_size=50)
    repo = AuditRepository(bdb, page_size=40)
    assert [row["request_id"] async for row in repo.rows()] == [f"req-{n}" for n in range(120)]
    result = await repo.verify()
    assert result.ok and result.checked == 120


async def test_replicas_keep_one_linear_chain(bdb, backend_url):
    """Three writers on separate engines appending at once leave one gap-free chain."""
    engines = [bdb, Database(backend_url), Database(backend_url)]
    writers = [AuditWriter(db, batch_size=5, flush_interval=0.001) for db in engines]
    for n in range(240):
        writers[n % 3].submit(make_record(n))
        if n % 15 == 0:
            await asyncio.sleep(0.001)
    await asyncio.gather(*(w.aclose() for w in writers))
    for db in engines[1:]:
        await db.aclose()
    repo = AuditRepository(bdb)
    assert [row["seq"] async for row in repo.rows()] == list(range(240))
    assert (await repo.verify()).ok
    assert sum(w.stats.written for w in writers) == 240


@pytest.mark.parametrize(
    ("statement", "bad_seq"),
    [
        (
            "UPDATE audit_log SET record = replace(record, '\"status\"\\:200', '\"status\"\\:500')"
            " WHERE seq = 3",
            3,
        ),
        ("DELETE FROM audit_log WHERE seq = 4", 5),
        ("UPDATE audit_log SET request_body = NULL WHERE seq = 6", 6),
    ],
)
async def test_tampering_is_caught(bdb, statement, bad_seq):
    """Edits and deletions made with raw SQL fail verification at the right seq."""
    await write(bdb, range(10), cipher=BodyCipher.from_env_value(KEY_HEX))
    async with bdb.engine.begin() as conn:
        await conn.execute(sa.text(statement))
    result = await AuditRepository(bdb).verify()
    assert not result.ok and result.first_bad_seq == bad_seq, result


async def test_prune_then_append_verifies(bdb):
    """After a prune the rest verifies from the checkpoint, and new rows link on."""
    await write(bdb, range(10), clock=lambda: 1000.0)
    await write(bdb, range(10, 15), clock=lambda: 2000.0)
    repo = AuditRepository(bdb)
    pruned = await repo.prune(older_than=1500.0, now=3000.0)
    assert pruned.deleted == 10 and pruned.checkpoint.seq == 9
    await write(bdb, range(15, 20), clock=lambda: 4000.0)
    result = await repo.verify()
    assert result.ok and result.checked == 10 and result.head.seq == 19


async def test_bodies_round_trip(bdb):
    """Encrypted bodies come back intact from either backend."""
    cipher = BodyCipher.from_env_value(KEY_HEX)
    await write(bdb, range(3), cipher=cipher)
    rows = [row async for row in AuditRepository(bdb).rows()]
    assert [decrypt_body(cipher, row, "request_body") for row in rows] == [
        {"n": 0},
        {"n": 1},
        {"n": 2},
    ]


async def test_gateway_audits_into_the_backend(backend_url, open_gateway):
    """A gateway on the backend writes one verified row per request."""
    chat = {"model": "mock", "messages": [{"role": "user", "content": "hi"}]}
    async with open_gateway(settings_for(backend_url)) as client:
        for n in range(20):
            r = await client.post(
                "/v1/chat/completions", json=chat, headers={**bearer(), "x-request-id": f"g{n}"}
            )
            assert r.status_code == 200
    rows = await audit_rows(backend_url)
    assert [row["record"]["client_request_id"] for row in rows] == [f"g{n}" for n in range(20)]
    db = Database(backend_url)
    try:
        assert (await AuditRepository(db).verify()).checked == 20
    finally:
        await db.aclose()
