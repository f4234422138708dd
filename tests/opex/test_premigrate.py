"""The first start's migration in a child process (lockgate.storage.premigrate)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from lockgate.storage.premigrate import sqlite_file, start_premigration
from lockgate.storage.revisions import shipped_head


def _revision(path: Path) -> list[tuple[str]]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT version_num FROM alembic_version").fetchall()


def test_only_plain_sqlite_files_are_premigrated():
    assert sqlite_file("sqlite:////var/lib/lg.db") == Path("/var/lib/lg.db")
    assert sqlite_file("sqlite+aiosqlite:///rel/lg.db") == Path("rel/lg.db")
    for url in (
        "sqlite://",
        "sqlite:///:memory:",
        "sqlite:///file:mem?mode=memory&uri=true",
        "postgresql://u:p@localhost/lg",
        "postgresql+asyncpg://u:p@localhost/lg",
    ):
        assert sqlite_file(url) is None, url
        assert start_premigration(url) is None, url


def test_a_fresh_file_is_migrated_by_the_child_and_a_file_at_head_starts_none(tmp_path: Path):
    db = tmp_path / "data" / "lg.db"
    url = f"sqlite:///{db}"
    child = start_premigration(url)
    assert child is not None
    assert child.run() == 0
    child.cancel()  # a no-op once it ran
    assert _revision(db) == [(shipped_head(),)]
    assert start_premigration(url) is None
    assert start_premigration(f"sqlite+aiosqlite:///{db}") is None


def test_a_file_behind_head_is_migrated(tmp_path: Path):
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        conn.execute("INSERT INTO alembic_version VALUES ('0000_unknown')")
    child = start_premigration(f"sqlite:///{db}")
    assert child is not None
    # an unknown revision is Alembic's to refuse: the child fails, and `serve` then
    # migrates in-process and reports Alembic's error the usual way
    assert child.run() != 0
    assert _revision(db) == [("0000_unknown",)]


def test_a_file_at_an_older_revision_is_brought_to_head(tmp_path: Path):
    import sqlalchemy as sa
    from alembic import command

    from lockgate.storage.database import _alembic_config

    db = tmp_path / "older.db"
    engine = sa.create_engine(f"sqlite:///{db}")
    try:
        with engine.begin() as conn:
            cfg = _alembic_config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0001")
    finally:
        engine.dispose()
    assert _revision(db) == [("0001",)]
    child = start_premigration(f"sqlite:///{db}")
    assert child is not None
    assert child.run() == 0
    assert _revision(db) == [(shipped_head(),)]


def test_a_cancelled_child_never_touches_the_database(tmp_path: Path):
    """serve refused to start (a failed check, a taken port): no file is created."""
    db = tmp_path / "data" / "lg.db"
    child = start_premigration(f"sqlite:///{db}")
    assert child is not None
    child.cancel()
    assert child.proc.returncode == 0
    assert not db.exists()
    assert not db.parent.exists()


def test_serve_refused_by_a_check_leaves_no_database(tmp_path: Path):
    import subprocess
    import sys

    db = tmp_path / "gw.db"
    config = tmp_path / "lockgate.yaml"
    config.write_text(
        "model_list:\n  - model_name: mock\n    params: {model: mock/mock-1}\n"
        f"general_settings: {{database_url: 'sqlite:///{db}'}}\n"
        "server: {host: 0.0.0.0}\n"  # no master key: open mode is for loopback only
    )
    out = subprocess.run(
        [sys.executable, "-m", "lockgate", "serve", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2, out.stderr
    assert "without a master key" in out.stderr
    assert not db.exists()
