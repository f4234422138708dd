"""Migrating a SQLite file in a child process while ``lockgate serve`` starts.

Alembic, Mako and what they pull in (pygments, SQLAlchemy's PostgreSQL dialect) are about
10 MB resident and 0.2 s of imports; migrated in-process, a gateway keeps them for its
whole life although it needs them once.  So ``lockgate serve`` on a SQLite file below
the shipped head (the first start on the embedded defaults) starts
``python -m lockgate.storage.premigrate URL`` as soon as its settings are loaded: the
child imports SQLAlchemy and Alembic on the other core while the parent runs its checks
and imports the server, then waits.  Once the port is bound and every check passed, the
parent says "go" on the child's stdin and waits for the migration; anything else
(a failed check, a taken port, the parent dying) closes stdin and the child exits
without touching the database, as the in-process migration never would have either.

The lifespan's own ``Database.migrate`` is unchanged: after a successful child it finds
the schema at head with one query; if the child failed for any reason, it migrates
in-process as before and reports the error the usual way.  A file already at head (every
later start) is read with the standard library's sqlite3 and starts no child; other
databases (PostgreSQL, in-memory SQLite) migrate in-process.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from lockgate.storage.revisions import shipped_head

if TYPE_CHECKING:
    from lockgate.storage.database import Database

__all__ = ["Premigration", "sqlite_file", "start_premigration"]

_SQLITE_PREFIXES = ("sqlite:///", "sqlite+aiosqlite:///")
_GO = b"go"


def sqlite_file(url: str) -> Path | None:
    """The file of a plain SQLite URL; None for anything else (in-memory, URI options)."""
    for prefix in _SQLITE_PREFIXES:
        if url.startswith(prefix):
            rest = url[len(prefix) :]
            if not rest or rest == ":memory:" or "?" in rest:
                return None
            return Path(rest)
    return None


def _revision(path: Path) -> str | None:
    """``alembic_version``'s single row, or None (no file, no table, unreadable)."""
    if not path.is_file():
        return None
    try:
        conn = sqlite3.connect(path, timeout=5)
        try:
            rows = conn.execute("SELECT version_num FROM alembic_version").fetchall()
        finally:
            conn.close()
    except sqlite3.Error:
        return None
    return str(rows[0][0]) if len(rows) == 1 else None


class Premigration:
    """A child that has loaded the migration code and waits for ``run`` or ``cancel``."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc

    def run(self) -> int:
        """Migrate now; returns the child's exit code once it has ended."""
        return self._end(_GO)

    def cancel(self) -> None:
        """End the child without touching the database (a no-op after ``run``)."""
        self._end(b"")

    def _end(self, word: bytes) -> int:
        stdin = self.proc.stdin
        if stdin is not None and not stdin.closed:
            with contextlib.suppress(OSError):  # the child may have died already
                stdin.write(word)
            with contextlib.suppress(OSError):
                stdin.close()
        return self.proc.wait()


def start_premigration(database_url: str) -> Premigration | None:
    """Start the child when ``database_url`` is a SQLite file below the shipped head."""
    path = sqlite_file(database_url)
    head = shipped_head()
    if path is None or head is None or _revision(path) == head:
        return None
    proc = subprocess.Popen(
        [sys.executable, "-m", "lockgate.storage.premigrate", database_url],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return Premigration(proc)


async def _migrate(db: Database) -> None:
    try:
        await db.migrate()
    finally:
        await db.aclose()


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m lockgate.storage.premigrate DATABASE_URL", file=sys.stderr)
        return 2
    # both loaded while the parent starts up, before it says go
    import alembic.command  # noqa: F401

    from lockgate.storage import database

    if sys.stdin.buffer.read() != _GO:
        return 0
    asyncio.run(_migrate(database.Database(argv[1])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
