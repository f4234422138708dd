"""A SQLite file's idle reads through the standard library's driver, not SQLAlchemy.

A gateway on the embedded defaults polls its database all the time (key and model change
counters, the prompt head, "is a rollout or a batch due?") and reads the schema revision
once at start; everything it writes on the request path goes to the writer process.
Those reads are one-row SELECTs: here they run on one thread of their own with a plain
``sqlite3`` connection, so that a gateway which serves requests and polls, and is asked
nothing else, never imports SQLAlchemy (~13 MiB of its idle memory, and its start-up).
The repositories keep their SQLAlchemy queries for everything else, and ask
:meth:`lockgate.storage.database.Database.surely_empty` first where a poll usually finds
nothing: only when it may find something do they run their own query.

Reads see every committed write (autocommit, WAL mode: a reader never waits for the
writers); errors come back as ``sqlite3`` errors, which every poll treats like any other
database error (keep the last state, try again next tick).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["SqliteReads", "plain_sqlite_file"]

T = TypeVar("T")

_PREFIXES = ("sqlite+aiosqlite:///", "sqlite+pysqlite:///", "sqlite:///")
#: as SQLAlchemy's SQLite drivers: a statement waits this long for a lock
_BUSY_SECONDS = 5.0


def plain_sqlite_file(url: str) -> str | None:
    """The file of a plain SQLite file URL (``sqlite[+driver]:///path``, no query string
    or escapes); None for anything else, which SQLAlchemy's URL parser then reads."""
    for prefix in _PREFIXES:
        if url.startswith(prefix):
            path = url[len(prefix) :]
            if not path or path == ":memory:" or any(c in path for c in "?%#"):
                return None
            return path
    return None


class SqliteReads:
    """One thread, one ``sqlite3`` connection (opened on the first read), SELECTs only."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._pool: ThreadPoolExecutor | None = None

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="lockgate-sqlite-reads")
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def _run(self, sql: str, params: tuple[Any, ...], many: bool) -> list[Any]:
        return await self._call(self._read, sql, params, many)

    def _read(self, sql: str, params: tuple[Any, ...], many: bool) -> list[Any]:
        if self._conn is None:
            self._conn = sqlite3.connect(self.path, timeout=_BUSY_SECONDS)
        cursor = self._conn.execute(sql, params)
        try:
            return cursor.fetchall() if many else [cursor.fetchone()]
        finally:
            cursor.close()

    async def counter(self, sql: str) -> int:
        """The integer ``sql`` selects (no row, or NULL, is 0)."""
        row = (await self._run(sql, (), False))[0]
        return int(row[0] or 0) if row is not None else 0

    async def exists(self, sql: str, params: tuple[Any, ...] = ()) -> bool:
        """Whether ``sql`` finds a row."""
        return (await self._run(sql, params, False))[0] is not None

    async def revision(self) -> str | None:
        """``alembic_version``'s single row, or None (no file, no table, several heads)."""
        return await self._call(self._revision)

    def _revision(self) -> str | None:
        if self._conn is None and not Path(self.path).is_file():
            return None  # not created here: the migration does
        try:
            rows = self._read("SELECT version_num FROM alembic_version", (), True)
        except sqlite3.Error:
            return None
        return str(rows[0][0]) if len(rows) == 1 else None

    async def aclose(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        await asyncio.get_running_loop().run_in_executor(pool, self._close)
        pool.shutdown(wait=False)

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
