"""Retention keeps the rest verifiable; export writes JSON lines, bodies decrypted or left out."""

from __future__ import annotations

import asyncio
import io
import time

import orjson
import sqlalchemy as sa
from tests.audit.conftest import KEY_HEX, make_record
from tests.audit.test_tamper import cli, write_config

from lockgate.audit.crypto import BodyCipher, DecryptionError
from lockgate.audit.writer import AuditWriter
from lockgate.storage.database import Database

BODY = {"messages": [{"role": "user", "content": "secret-ish"}]}


class Clock:
    """A settable wall clock for the writer (tests never patch time)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def write_at(db, clock: Clock, when: float, ids: range, cipher=None) -> None:
    """Write records ``ids`` with the writer's clock at ``when``."""
    clock.now = when
    writer = AuditWriter(db, cipher=cipher, flush_interval=60, clock=clock)
    for n in ids:
        writer.submit(make_record(n, request_body=BODY))
    await writer.aclose()


async def test_prune_deletes_old_rows_and_verify_still_passes(db, repo):
    """Rows older than the cut-off go; a checkpoint lets the rest verify."""
    clock = Clock(0)
    await write_at(db, clock, 1000.0, range(0, 10))
    await write_at(db, clock, 2000.0, range(10, 15))
    result = await repo.prune(older_than=1500.0, now=3000.0)
    assert result.deleted == 10 and result.checkpoint.seq == 9
    assert await repo.count() == 5
    verification = await repo.verify()
    assert verification.ok and verification.checked == 5 and verification.start.seq == 9


async def test_prune_with_nothing_old_is_a_no_op(db, repo):
    """A cut-off before every row deletes nothing and writes no checkpoint."""
    await write_at(db, Clock(0), 1000.0, range(3))
    result = await repo.prune(older_than=10.0, now=3000.0)
    assert result.deleted == 0 and result.checkpoint is None and await repo.count() == 3


async def test_everything_pruned_then_new_rows_chain_from_checkpoint(db, repo):
    """After pruning every row, new rows link to the checkpoint and verify."""
    clock = Clock(0)
    await write_at(db, clock, 1000.0, range(4))
    assert (await repo.prune(older_than=5000.0, now=5000.0)).deleted == 4
    assert (await repo.verify()).ok
    await write_at(db, clock, 6000.0, range(4, 7))
    rows = [row async for row in repo.rows()]
    assert [row["seq"] for row in rows] == [4, 5, 6]
    result = await repo.verify()
    assert result.ok and result.checked == 3


async def test_repeated_prunes_and_tampering_after_prune(db, repo):
    """Two prunes keep verification working, and edits after a prune are still caught."""
    clock = Clock(0)
    for day in range(4):
        await write_at(db, clock, 1000.0 * (day + 1), range(day * 5, day * 5 + 5))
    await repo.prune(older_than=1500.0, now=9000.0)
    await repo.prune(older_than=2500.0, now=9000.0)
    assert await repo.count() == 10 and (await repo.verify()).ok
    async with db.engine.begin() as conn:
        await conn.execute(sa.text("DELETE FROM audit_log WHERE seq = 10"))
    result = await repo.verify()
    assert not result.ok and result.first_bad_seq == 11


async def test_row_slipped_below_checkpoint_is_caught(db, repo):
    """A row inserted with a seq the prune already covered fails verification."""
    clock = Clock(0)
    await write_at(db, clock, 1000.0, range(5))
    await write_at(db, clock, 2000.0, range(5, 8))
    await repo.prune(older_than=1500.0, now=3000.0)
    async with db.engine.begin() as conn:
        await conn.execute(
            sa.text(
                "INSERT INTO audit_log (seq, request_id, created_at, record, prev_hash, hash)"
                " SELECT 2, request_id, created_at, record, prev_hash, hash"
                " FROM audit_log WHERE seq = 5"
            )
        )
    result = await repo.verify()
    assert not result.ok and result.first_bad_seq == 2


async def test_export_jsonl_decrypts_bodies(db, repo):
    """Export writes one JSON line per row, bodies decrypted with the key."""
    cipher = BodyCipher.from_env_value(KEY_HEX)
    await write_at(db, Clock(0), 1000.0, range(4), cipher=cipher)
    out = io.BytesIO()
    assert await repo.export(out.write, cipher=cipher) == 4
    lines = [orjson.loads(line) for line in out.getvalue().splitlines()]
    assert [line["seq"] for line in lines] == [0, 1, 2, 3]
    assert lines[2]["request_body"] == BODY and lines[2]["record"]["request_id"] == "req-2"


async def test_export_without_bodies_and_since(db, repo):
    """--no-bodies leaves body columns out; since skips older rows."""
    clock = Clock(0)
    cipher = BodyCipher.from_env_value(KEY_HEX)
    await write_at(db, clock, 1000.0, range(3), cipher=cipher)
    await write_at(db, clock, 2000.0, range(3, 5), cipher=cipher)
    out = io.BytesIO()
    assert await repo.export(out.write, bodies=False, since=1500.0) == 2
    lines = [orjson.loads(line) for line in out.getvalue().splitlines()]
    assert [line["request_id"] for line in lines] == ["req-3", "req-4"]
    assert all("request_body" not in line and "body_key_id" not in line for line in lines)


async def test_export_with_wrong_key_fails(db, repo):
    """Export with another key raises instead of writing garbage."""
    await write_at(db, Clock(0), 1000.0, range(1), cipher=BodyCipher.from_env_value(KEY_HEX))
    try:
        await repo.export(io.BytesIO().write, cipher=BodyCipher.from_env_value("33" * 32))
    except DecryptionError:
        return
    raise AssertionError("export decrypted with the wrong key")


def seed(db_url: str, *, when: float, n: int, cipher: BodyCipher | None = None) -> None:
    """Write ``n`` rows with the writer clock at ``when`` (sync, for CLI tests)."""

    async def go() -> None:
        db = Database(db_url)
        await db.migrate()
        await write_at(db, Clock(0), when, range(n), cipher=cipher)
        await db.aclose()

    asyncio.run(go())


def test_cli_export_and_key_handling(tmp_path, db_url):
    """`lockgate audit export` decrypts with the env key, needs --no-bodies without it."""
    seed(db_url, when=time.time(), n=3, cipher=BodyCipher.from_env_value(KEY_HEX))
    config = str(write_config(tmp_path, db_url, key_env="AUDIT_KEY_FOR_CLI"))
    out = tmp_path / "audit.jsonl"
    r = cli("export", "-c", config, "-o", str(out), env={"AUDIT_KEY_FOR_CLI": KEY_HEX})
    assert r.exit_code == 0, r.output
    lines = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert len(lines) == 3 and lines[0]["request_body"] == BODY
    missing = cli("export", "-c", config, env={"AUDIT_KEY_FOR_CLI": ""})
    assert missing.exit_code == 1 and "--no-bodies" in missing.output
    wrong = cli("export", "-c", config, env={"AUDIT_KEY_FOR_CLI": "44" * 32})
    assert wrong.exit_code == 1 and "which this cipher does not hold" in wrong.output
    plain = cli("export", "-c", config, "--no-bodies", env={"AUDIT_KEY_FOR_CLI": ""})
    assert plain.exit_code == 0
    assert plain.stdout.count("\n") == 3 and "request_body" not in plain.stdout


def test_cli_prune_uses_retention_days_and_verify_passes(tmp_path, db_url):
    """`lockgate audit prune` honours audit.retention_days; verify passes afterwards."""
    seed(db_url, when=time.time() - 10 * 86400, n=6)
    config = str(write_config(tmp_path, db_url, retention_days=7))
    r = cli("prune", "-c", config)
    assert r.exit_code == 0 and "deleted 6 records" in r.output
    assert cli("prune", "-c", config).stdout.startswith("nothing older than 7 days")
    ok = cli("verify", "-c", config)
    assert ok.exit_code == 0 and "no records after checkpoint seq 5" in ok.output


def test_cli_prune_needs_an_age(tmp_path, db_url):
    """Without retention_days or --older-than-days prune refuses (exit 2)."""
    config = str(write_config(tmp_path, db_url))
    r = cli("prune", "-c", config)
    assert r.exit_code == 2 and "retention_days" in r.output


async def test_writer_applies_retention_while_running(db, repo):
    """With retention set, the writer deletes old rows after a write; verify still passes."""
    clock = Clock(1000.0)
    writer = AuditWriter(
        db, flush_interval=60, clock=clock, retention_seconds=500.0, prune_interval=0.0
    )
    for n in range(5):
        writer.submit(make_record(n))
    await asyncio.wait_for(writer.flush(), 10)
    assert await repo.count() == 5 and writer.stats.pruned == 0
    clock.now = 2000.0
    for n in range(5, 8):
        writer.submit(make_record(n))
    await asyncio.wait_for(writer.flush(), 10)
    await writer.aclose()
    assert writer.stats.pruned == 5
    assert [row["request_id"] async for row in repo.rows()] == ["req-5", "req-6", "req-7"]
    result = await repo.verify()
    assert result.ok and result.start.seq == 4


async def test_writer_prunes_at_most_once_per_interval(db, repo):
    """Within the prune interval old rows are left alone."""
    clock = Clock(1000.0)
    writer = AuditWriter(
        db, flush_interval=60, clock=clock, retention_seconds=10.0, prune_interval=3600.0
    )
    writer.submit(make_record(0))
    await asyncio.wait_for(writer.flush(), 10)
    clock.now = 2000.0
    writer.submit(make_record(1))
    await writer.aclose()
    assert writer.stats.pruned == 0 and await repo.count() == 2
