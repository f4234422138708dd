"""`lockgate usage replay` / `lockgate audit replay` (SQLite and a real Postgres server).

Dead-letter files are made by the real writers (records beyond a tiny queue bound, a
row the database refused as a duplicate, a record too deep to encode), then replayed
through the CLI: every replayable record is written exactly once (rollups included),
a record already stored is skipped, a second replay writes nothing, the audit chain
verifies, and a file the command does not understand is refused untouched.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from tests.audit.conftest import MASTER, make_record
from tests.hardening.conftest import backend_database, usage_rows
from typer.testing import CliRunner

from lockgate.audit import cli as audit_cli
from lockgate.audit.replay import AuditReplay
from lockgate.audit.repository import AuditRepository
from lockgate.audit.writer import AuditWriter
from lockgate.console.rollups import usage_hourly
from lockgate.records import RequestRecord
from lockgate.storage.database import Database
from lockgate.storage.dead_letter import DeadLetter
from lockgate.storage.replay import replay_file
from lockgate.usage import cli as usage_cli
from lockgate.usage.repository import UsageRepository
from lockgate.usage.writer import UsageWriter


@pytest.fixture(params=["sqlite", "postgres"])
async def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return await backend_database(request, tmp_path, "replay")


def deep(levels: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for _ in range(levels):
        out = {"d": out}
    return out


def lines_of(path: str | Path) -> list[str]:
    return Path(path).read_text().splitlines()


def write_config(tmp_path: Path, url: str) -> str:
    path = tmp_path / "lockgate.yaml"
    data = {
        "model_list": [{"model_name": "mock", "params": {"model": "mock/mock-1"}}],
        "general_settings": {"master_key": MASTER, "database_url": url},
        "usage": {"dead_letter_file": str(tmp_path / "usage-dl.jsonl")},
        "audit": {"dead_letter_file": str(tmp_path / "audit-dl.jsonl")},
    }
    path.write_text(yaml.safe_dump(data))
    return str(path)


def run(app: Any, *args: str) -> Any:
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def spilled(n: int, prefix: str) -> list[RequestRecord]:
    """``n`` records, the fourth one too deep to encode (kept in the file only as text)."""
    return [
        make_record(i, request_id="too-deep", notes={"x": deep(300)})
        if i == 3
        else make_record(i, request_id=f"{prefix}{i}")
        for i in range(n)
    ]


async def hourly_requests(url: str) -> int:
    db = Database(url)
    try:
        async with db.engine.connect() as conn:
            total = await conn.scalar(sa.select(sa.func.sum(usage_hourly.c.requests)))
        return int(total or 0)
    finally:
        await db.aclose()


async def usage_dead_letter(url: str, path: Path) -> None:
    """What a saturated, then refusing, usage writer leaves: 8 records spilled beyond the
    queue (one of them unencodable) and one row refused as already written."""
    db = Database(url)
    dl = DeadLetter(path, "usage")
    writer = UsageWriter(
        UsageRepository(db),
        batch_size=100,
        flush_interval=60,
        max_queue=2,
        dead_letter=dl,
        overflow="dead_letter",
    )
    try:
        for record in spilled(10, "s"):  # no await between: 2 queued, 8 spilled
            writer.submit(record)
        await writer.flush()
        writer.submit(make_record(0, request_id="s0"))  # already written: refused
        await writer.flush()
    finally:
        await writer.aclose()
        await db.aclose()


async def test_usage_replay_writes_each_row_once(url, tmp_path):
    live = tmp_path / "usage-dl.jsonl"
    await usage_dead_letter(url, live)
    lines = live.read_text().splitlines()
    assert len(lines) == 9  # 8 spilled + the refused duplicate
    config = write_config(tmp_path, url)

    result = await asyncio.to_thread(run, usage_cli.app, "replay", "-c", config, "--json")
    assert result.exit_code == 1, result.output  # one entry is still bad
    out = json.loads(result.stdout)
    (report,) = out["files"]
    assert (report["written"], report["duplicates"], report["still_bad"]) == (7, 1, 1)
    assert report["still_bad_examples"][0]["request_id"] == "too-deep"
    ids = sorted(r["request_id"] for r in await usage_rows(url))
    assert ids == sorted(f"s{i}" for i in range(10) if i != 3)
    assert await hourly_requests(url) == 9  # rollups: each request counted once
    # The replayed file is kept aside; only the still-bad entry is back in the live file.
    moved = report["moved_to"]
    assert lines_of(moved) == lines
    (back,) = live.read_text().splitlines()
    assert json.loads(back)["record"]["request_id"] == "too-deep"

    # Replaying the same entries again writes nothing and counts nothing twice.
    again = tmp_path / "again.jsonl"
    shutil.copy(moved, again)
    result = await asyncio.to_thread(
        run, usage_cli.app, "replay", "-c", config, "--file", str(again), "--json"
    )
    (report,) = json.loads(result.stdout)["files"]
    assert (report["written"], report["duplicates"], report["still_bad"]) == (0, 8, 1)
    assert len(await usage_rows(url)) == 9 and await hourly_requests(url) == 9


async def test_usage_replay_resumes_a_replay_that_stopped(url, tmp_path):
    """A file left as NAME.replaying-STAMP (the replay was killed) is taken up again."""
    live = tmp_path / "usage-dl.jsonl"
    dl = DeadLetter(live, "usage")
    await dl.put([make_record(i, request_id=f"r{i}") for i in range(3)], ValueError("x"))
    left = live.rename(live.with_name(live.name + ".replaying-20261129T000000.000000Z"))
    await dl.put([make_record(9, request_id="r9")], ValueError("later"))  # a new spill
    config = write_config(tmp_path, url)
    result = await asyncio.to_thread(run, usage_cli.app, "replay", "-c", config, "--json")
    assert result.exit_code == 0, result.output
    reports = json.loads(result.stdout)["files"]
    assert [r["written"] for r in reports] == [3, 1]
    assert not left.exists() and not live.exists()
    assert sorted(r["request_id"] for r in await usage_rows(url)) == ["r0", "r1", "r2", "r9"]


async def test_audit_replay_chains_each_entry_once_and_verifies(url, tmp_path):
    live = tmp_path / "audit-dl.jsonl"
    db = Database(url)
    writer = AuditWriter(
        db,
        batch_size=100,
        flush_interval=60,
        max_queue=2,
        overflow="dead_letter",
        dead_letter=DeadLetter(live, "audit"),
    )
    try:
        for record in spilled(10, "a"):
            writer.submit(record)
        await writer.flush()
        await writer.aclose()
    finally:
        await db.aclose()
    entries = [json.loads(x) for x in live.read_text().splitlines()]
    # a0 was written and is also in the file (as the writer process can leave it)
    entries.append({**entries[0], "record": {**entries[0]["record"], "request_id": "a0"}})
    live.write_bytes(b"".join(json.dumps(e).encode() + b"\n" for e in entries))
    config = write_config(tmp_path, url)

    result = await asyncio.to_thread(run, audit_cli.app, "replay", "-c", config, "--json")
    assert result.exit_code == 1, result.output  # the too-deep entry is still bad
    out = json.loads(result.stdout)
    (report,) = out["files"]
    assert (report["written"], report["duplicates"], report["still_bad"]) == (7, 1, 1)
    assert out["verified"]["ok"], out
    db = Database(url)
    try:
        repo = AuditRepository(db)
        rows = [r async for r in repo.rows()]
        assert sorted(r["request_id"] for r in rows) == sorted(f"a{i}" for i in range(10) if i != 3)
        assert [r["seq"] for r in rows] == list(range(9))
        # the replayed facts are the record's own
        replayed = next(r for r in rows if r["request_id"] == "a5")
        assert replayed["record"]["prompt_tokens"] == make_record(5).prompt_tokens

        # Again, while a live writer appends to the same chain: nothing twice, still linear.
        again = tmp_path / "again.jsonl"
        shutil.copy(report["moved_to"], again)
        live_writer = AuditWriter(db, batch_size=5, flush_interval=0.01)
        for i in range(20):
            live_writer.submit(make_record(i, request_id=f"live{i}"))
        second, _ = await asyncio.gather(
            replay_file(again, "audit", AuditReplay(db, None)), live_writer.flush()
        )
        await live_writer.aclose()
        assert (second.written, second.duplicates) == (0, 8)
        check = await repo.verify()
        assert check.ok and check.checked == 29, check
    finally:
        await db.aclose()


@pytest.mark.parametrize("content", ["other-sink", "not-json", "not-an-entry"])
async def test_replay_refuses_a_file_it_does_not_understand(url, tmp_path, content):
    path = tmp_path / "usage-dl.jsonl"
    if content == "other-sink":
        await DeadLetter(path, "audit").put([make_record(1)], ValueError("x"))
    elif content == "not-json":
        path.write_text("model_list: []\n")
    else:
        path.write_text('{"request_id": "x"}\n')
    before = path.read_bytes()
    config = write_config(tmp_path, url)
    result = await asyncio.to_thread(run, usage_cli.app, "replay", "-c", config)
    assert result.exit_code == 2, result.output
    assert "nothing replayed" in result.stderr and str(path) in result.stderr
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.glob("usage-dl.jsonl*")) == ["usage-dl.jsonl"]
    assert await usage_rows(url) == []
