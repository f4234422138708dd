"""`lockgate db migrate` and `lockgate db wait`, run as subprocesses against real SQLite
and PostgreSQL: the migration Job and the init container of the Kubernetes manifests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import free_port

ENV = {k: v for k, v in os.environ.items() if not k.startswith("LOCKGATE_")}


def lockgate(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lockgate", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=ENV,
    )


def test_wait_fails_until_migrated_then_passes(tmp_path: Path) -> None:
    """On an empty database `db wait` times out with exit 1; after `db migrate` it exits 0
    at once and names the head revision."""
    url = f"sqlite:///{tmp_path}/gw.db"
    before = lockgate("db", "wait", "--database-url", url, "--timeout", "1")
    assert before.returncode == 1
    assert "not ready" in before.stderr and "Traceback" not in before.stderr
    migrated = lockgate("db", "migrate", "--database-url", url, "--timeout", "10")
    assert migrated.returncode == 0, migrated.stderr
    head = migrated.stdout.strip().rsplit(" ", 1)[-1]
    after = lockgate("db", "wait", "--database-url", url, "--timeout", "5")
    assert after.returncode == 0, after.stderr
    assert after.stdout.strip().endswith(head)


def test_migrate_on_postgres_is_idempotent(postgres_url: str) -> None:
    """Two migrations in a row on PostgreSQL both succeed; wait then passes."""
    for _ in range(2):
        res = lockgate("db", "migrate", "--database-url", postgres_url, "--timeout", "30")
        assert res.returncode == 0, res.stderr
    assert lockgate("db", "wait", "--database-url", postgres_url, "--timeout", "5").returncode == 0


def test_migrate_fails_loudly_when_the_database_never_comes() -> None:
    """An unreachable server: exit 1 after the timeout, one line, password masked."""
    url = f"postgresql://lockgate:s3cret-pw@127.0.0.1:{free_port()}/lockgate"
    res = lockgate("db", "migrate", "--database-url", url, "--timeout", "1.5")
    assert res.returncode == 1
    assert "migration of" in res.stderr and "failed" in res.stderr
    assert "s3cret-pw" not in res.stderr + res.stdout
    assert "Traceback" not in res.stderr
