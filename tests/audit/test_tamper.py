"""Tampering with stored audit rows is caught, through the repository and `lockgate audit`."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from tests.audit.conftest import make_record
from tests.support import MASTER
from typer.testing import CliRunner

from lockgate.audit import cli as audit_cli
from lockgate.audit.writer import AuditWriter
from lockgate.storage.database import Database

N = 12


async def fill(db: Database, n: int = N) -> None:
    """Write ``n`` records through the real writer."""
    writer = AuditWriter(db, batch_size=5, flush_interval=60)
    for i in range(n):
        writer.submit(make_record(i))
    await writer.aclose()


async def sql(db: Database, *statements: str) -> None:
    """Run raw SQL, as someone with database access would."""
    async with db.engine.begin() as conn:
        for statement in statements:
            await conn.execute(sa.text(statement))


TAMPERING = {
    "status changed": (
        ["UPDATE audit_log SET record = json_set(record, '$.status', 500) WHERE seq = 5"],
        5,
    ),
    "cost lowered": (
        ["UPDATE audit_log SET record = json_set(record, '$.cost_usd', 0.0) WHERE seq = 7"],
        7,
    ),
    "guard verdict edited": (
        [
            "UPDATE audit_log SET record = json_set(record,"
            " '$.notes.guards.injection.action', 'block') WHERE seq = 2"
        ],
        2,
    ),
    "index column changed": (["UPDATE audit_log SET key_id = 'other' WHERE seq = 3"], 3),
    "timestamp moved": (["UPDATE audit_log SET created_at = created_at - 86400 WHERE seq = 9"], 9),
    "row deleted": (["DELETE FROM audit_log WHERE seq = 4"], 5),
    "rows reordered": (
        [
            "UPDATE audit_log SET seq = -1 WHERE seq = 6",
            "UPDATE audit_log SET seq = 6 WHERE seq = 7",
            "UPDATE audit_log SET seq = 7 WHERE seq = -1",
        ],
        6,
    ),
    "first row deleted": (["DELETE FROM audit_log WHERE seq = 0"], 1),
    "row rehashed without relinking": (
        [
            "UPDATE audit_log SET record = json_set(record, '$.user', 'mallory'),"
            " hash = 'ab' || substr(hash, 3) WHERE seq = 8"
        ],
        8,
    ),
}


@pytest.mark.parametrize("name", list(TAMPERING))
async def test_repository_names_first_bad_seq(db, repo, name):
    """Each kind of edit makes verify fail at the seq where the chain breaks."""
    await fill(db)
    assert (await repo.verify()).ok
    statements, bad_seq = TAMPERING[name]
    await sql(db, *statements)
    result = await repo.verify()
    assert not result.ok
    assert result.first_bad_seq == bad_seq, result.reason


async def test_cut_off_tail_fails_by_default(db, repo):
    """Rows cut off the end fail against the head kept beside the chain, or a given head."""
    await fill(db)
    head = (await repo.verify()).head
    await sql(db, f"DELETE FROM audit_log WHERE seq >= {N - 3}")
    result = await repo.verify()
    assert not result.ok and result.first_bad_seq == N - 3
    assert "cut off" in (result.reason or "")
    result = await repo.verify(expected_head=(head.seq, head.hash))
    assert not result.ok and result.first_bad_seq == N - 3


async def test_rows_appended_after_the_head_was_read_verify(db, repo):
    """A live gateway appends between verify's reading of the stored head and of the rows:
    rows past that head verify when the chain holds it as a link (same seq and hash); a
    head that is not a link of the chain still fails."""
    await fill(db)
    first = (await repo.verify()).head
    await fill(db)  # the chain goes on; the stored head moves to its end
    last = (await repo.verify()).head
    assert first is not None and last is not None and last.seq > first.seq
    # The head as verify read it before the later rows were appended:
    await sql(db, f"UPDATE audit_head SET seq = {first.seq}, hash = '{first.hash}' WHERE id = 1")
    result = await repo.verify()
    assert result.ok, result.reason
    assert result.head == last and result.checked == last.seq + 1
    # A stored head whose hash is no link of the chain fails (forged, or another log's).
    forged = "0" * len(first.hash)
    await sql(db, f"UPDATE audit_head SET hash = '{forged}' WHERE id = 1")
    result = await repo.verify()
    assert not result.ok and "expected head" in (result.reason or "")


async def test_cut_off_tail_fails_the_cli(tmp_path, db_url):
    """`lockgate audit verify` exits 1 on a log whose newest rows were deleted."""
    db = Database(db_url)
    await db.migrate()
    await fill(db)
    await sql(db, f"DELETE FROM audit_log WHERE seq = {N - 1}")
    await db.aclose()
    config = str(write_config(tmp_path, db_url))
    result = await asyncio.to_thread(cli, "verify", "--config", config)
    assert result.exit_code == 1 and "cut off" in result.output


def write_config(tmp_path: Path, db_url: str, **audit: object) -> Path:
    """A config file on the test database for the CLI."""
    path = tmp_path / "lockgate.yaml"
    data = {
        "model_list": [{"model_name": "mock", "params": {"model": "mock/mock-1"}}],
        "general_settings": {"master_key": MASTER, "database_url": db_url},
        "audit": audit,
    }
    path.write_text(yaml.safe_dump(data))
    return path


def cli(*args: str, env: dict[str, str] | None = None):
    """Run `lockgate audit ...` in-process and return the result."""
    return CliRunner().invoke(audit_cli.app, list(args), env=env, catch_exceptions=False)


def test_cli_verify_passes_then_names_tampered_seq(tmp_path, db_url):
    """`lockgate audit verify` exits 0 on an intact log and 1 naming the edited seq."""

    async def setup() -> None:
        db = Database(db_url)
        await db.migrate()
        await fill(db)
        await db.aclose()

    asyncio.run(setup())
    config = str(write_config(tmp_path, db_url))
    ok = cli("verify", "--config", config)
    assert ok.exit_code == 0 and f"ok: {N} records verified from genesis" in ok.output
    head = ok.output.split("head ")[1].strip()
    assert cli("verify", "-c", config, "--expect-head", head).exit_code == 0

    async def tamper() -> None:
        db = Database(db_url)
        await sql(db, "UPDATE audit_log SET record = json_set(record, '$.model', 'x') WHERE seq=10")
        await db.aclose()

    asyncio.run(tamper())
    bad = cli("verify", "--config", config)
    assert bad.exit_code == 1
    assert "FAILED at seq 10" in bad.output and "hash does not match" in bad.output


def test_cli_verify_reads_config_from_environment(tmp_path, db_url):
    """Without --config the command reads $LOCKGATE_CONFIG."""
    config = str(write_config(tmp_path, db_url))
    r = cli("verify", env={"LOCKGATE_CONFIG": config})
    assert r.exit_code == 0 and "ok: no records after genesis" in r.output


def test_cli_bad_config_exits_2(tmp_path):
    """A config that does not load is a usage error, not a verification failure."""
    r = cli("verify", "--config", str(tmp_path / "missing.yaml"))
    assert r.exit_code == 2 and "cannot read config file" in r.output


def test_cli_rejects_malformed_expected_head(tmp_path, db_url):
    """--expect-head must be SEQ:HASH."""
    config = str(write_config(tmp_path, db_url))
    r = CliRunner().invoke(audit_cli.app, ["verify", "-c", config, "--expect-head", "12"])
    assert r.exit_code == 2
