"""Finding 3: the usage and audit writers never stall on one bad row (SQLite and Postgres).

A batch the database refuses is written row by row; rows still refused go to the
dead-letter file (JSON lines) with a metric and one log line, and the writer carries on.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.audit.conftest import make_record
from tests.hardening.conftest import backend_database, usage_rows

from lockgate.audit.repository import AuditRepository
from lockgate.audit.writer import AuditWriter
from lockgate.metrics import Metrics
from lockgate.storage.database import Database
from lockgate.storage.dead_letter import DeadLetter
from lockgate.usage.repository import UsageRepository
from lockgate.usage.writer import UsageWriter


@pytest.fixture(params=["sqlite", "postgres"])
async def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, migrated database on each backend."""
    return await backend_database(request, tmp_path, "dl")


def dead_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def deep(levels: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for _ in range(levels):
        out = {"d": out}
    return out


async def test_usage_writer_dead_letters_a_duplicate_and_carries_on(url, tmp_path):
    """A row the database refuses (duplicate key) goes to the file; its batch-mates and
    every later batch are written."""
    dl = DeadLetter(tmp_path / "usage-dl.jsonl", "usage")
    metrics = Metrics()
    db = Database(url)
    writer = UsageWriter(UsageRepository(db), batch_size=10, flush_interval=60, dead_letter=dl)
    metrics.watch_dead_letters([writer])
    try:
        writer.submit(make_record(0, request_id="taken"))
        await writer.flush()
        for n in range(10):
            writer.submit(make_record(n, request_id="taken" if n == 4 else f"a{n}"))
        await writer.flush()
        for n in range(5):
            writer.submit(make_record(n, request_id=f"b{n}"))
        await writer.flush()
    finally:
        await writer.aclose()
        await db.aclose()
    ids = {row["request_id"] for row in await usage_rows(url)}
    assert ids == {"taken"} | {f"a{n}" for n in range(10) if n != 4} | {f"b{n}" for n in range(5)}
    assert writer.stats.dead_lettered == 1 and writer.pending == 0
    (line,) = dead_lines(tmp_path / "usage-dl.jsonl")
    assert line["sink"] == "usage" and line["record"]["request_id"] == "taken"
    assert 'lockgate_records_dead_lettered_total{sink="usage"} 1.0' in metrics.render().decode()


async def test_audit_writer_dead_letters_what_it_cannot_store(url, tmp_path):
    """An unencodable record (and on Postgres an over-long id) goes to the file; the rest
    is chained and verifies."""
    dl = DeadLetter(tmp_path / "audit-dl.jsonl", "audit")
    db = Database(url)
    writer = AuditWriter(db, batch_size=10, flush_interval=60, dead_letter=dl)
    bad = {"too-deep"}
    try:
        for n in range(10):
            if n == 3:
                writer.submit(make_record(n, request_id="too-deep", notes={"x": deep(300)}))
            elif n == 6 and db.engine.dialect.name == "postgresql":
                bad.add("i" * 300)
                writer.submit(make_record(n, request_id="i" * 300))
            else:
                writer.submit(make_record(n))
        await writer.flush()
        writer.submit(make_record(99))
        await writer.flush()
        result = await AuditRepository(db).verify()
        rows = [row async for row in AuditRepository(db).rows()]
    finally:
        await writer.aclose()
        await db.aclose()
    assert result.ok, result
    assert len(rows) == 11 - len(bad)
    assert {line["record"]["request_id"] for line in dead_lines(tmp_path / "audit-dl.jsonl")} == bad
    assert writer.stats.dead_lettered == len(bad)
