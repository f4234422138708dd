"""The writer process loads what a batch needs and no more (its memory is one more process
per worker): on SQLite neither SQLAlchemy's async extension and ORM nor greenlet, rich,
pydantic or aiosqlite, and yet usage rows and an audit chain land."""

from __future__ import annotations

import asyncio
import io
import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
from tests.audit.conftest import make_record
from tests.hardening.conftest import migrated, usage_rows, verify_audit

from lockgate.records import pack
from lockgate.storage.write_process import _BOOT, _ROOT, read_frame, write_frame

#: what a SQLite writer process must not import
NOT_IN_THE_WRITER = (
    "sqlalchemy.ext.asyncio",
    "sqlalchemy.orm",
    "greenlet",
    "rich",
    "pygments",
    "pydantic",
    "aiosqlite",
    "aiohttp",
)


@pytest.fixture
async def url(tmp_path: Path) -> str:
    return await migrated(f"sqlite+aiosqlite:///{tmp_path}/writes.db")


def job(module: str, name: str, *args: object) -> bytes:
    return write_frame(pickle.dumps((module, name, args), pickle.HIGHEST_PROTOCOL))


async def test_a_sqlite_writer_process_loads_only_the_batch_code(url: str, tmp_path: Path):
    """The child's own entry (the same boot line as WriteProcess), fed a usage batch and
    an audit batch on stdin; at its exit it lists its modules."""
    loaded = tmp_path / "modules.json"
    probe = (
        "import atexit, json, sys\n"
        f"atexit.register(lambda: open({str(loaded)!r}, 'w')"
        ".write(json.dumps(sorted(sys.modules))))\n"
        f"{_BOOT}"
    )
    records = [make_record(n, request_id=f"r{n}") for n in range(20)]
    feed = b"".join(
        (
            write_frame(url.encode()),
            job("lockgate.usage.repository", "write_usage_batch", pack(records)),
            job("lockgate.audit.writer", "append_audit_batch", pack(records), 1.7e9, None),
        )
    )
    run = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", probe, _ROOT],
        input=feed,
        capture_output=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr.decode()
    answers = []
    stdout = io.BytesIO(run.stdout)
    while (frame := read_frame(stdout.read)) is not None:
        answers.append(pickle.loads(frame))
    assert answers == [("ok", None), ("ok", (20, []))], answers
    modules = set(json.loads(loaded.read_text()))
    assert "sqlalchemy" in modules and "lockgate.audit.writer" in modules  # it did load
    held = {
        m for m in modules for lean in NOT_IN_THE_WRITER if m == lean or m.startswith(lean + ".")
    }
    assert held == set()
    assert len(await usage_rows(url)) == 20
    result = await verify_audit(url)
    assert result.ok and result.checked == 20
