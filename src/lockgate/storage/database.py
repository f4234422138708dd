"""The database handle: an async engine chosen by URL, migrated on start."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from lockgate.storage.lean_import import import_sqlalchemy_asyncio_lean, lazy_module
from lockgate.storage.revisions import MIGRATIONS, shipped_head
from lockgate.storage.sqlite_reads import SqliteReads, plain_sqlite_file
from lockgate.storage.write_priority import WriterPriority
from lockgate.storage.write_process import WriteProcess
from lockgate.storage.write_thread import WriteThread

if TYPE_CHECKING:  # Alembic (~50 MB, ~0.2 s) loads only when the schema must change
    import sqlalchemy as sa
    from alembic.config import Config
    from sqlalchemy import exc
    from sqlalchemy.engine import URL, Connection
    from sqlalchemy.ext.asyncio import AsyncEngine
else:  # SQLAlchemy (~13 MiB) on first use: a gateway on SQLite may never need it
    sa = lazy_module("sqlalchemy")
    exc = lazy_module("sqlalchemy.exc")

__all__ = [
    "Database",
    "WriterKind",
    "make_engine",
    "make_sync_engine",
    "normalise_url",
    "redact_url",
    "shipped_head",
    "sqlite_file",
]

T = TypeVar("T")

#: where the usage and audit batches are written: a thread of this process, or a child
#: process of their own (see :mod:`lockgate.storage.write_process`)
WriterKind = Literal["thread", "process"]

_MIGRATE_TRIES = 100
#: seconds a replica keeps retrying while another one migrates the same database
_MIGRATE_PATIENCE = 60.0


def normalise_url(url: str) -> str:
    """Accept plain ``sqlite:///`` / ``postgresql://`` URLs and pick the async driver."""
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    if url.startswith(("postgres://", "postgresql://")):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    return url


def redact_url(url: str) -> str:
    """The URL with any password masked, for messages."""
    return sa.make_url(normalise_url(url)).render_as_string(hide_password=True)


def _write_ahead_log(dbapi_connection: Any, _record: object) -> None:
    """SQLite in WAL mode: readers (reports, the console, another process) never block
    the batch writers, and a commit appends to one file instead of creating, syncing
    and deleting a rollback journal.  ``synchronous`` stays FULL: a commit is durable."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
    finally:
        cursor.close()


def sqlite_file(url: str | URL) -> str | None:
    """The file of a file SQLite database; None for in-memory SQLite and other databases."""
    if isinstance(url, str) and (path := plain_sqlite_file(url)) is not None:
        return path  # a plain URL, read without SQLAlchemy
    parsed = sa.make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return parsed.database


def make_sync_engine(url: str) -> sa.Engine | None:
    """A plain (sync) engine on the same SQLite file, for the writer process; None for
    other databases (their async driver is used there too)."""
    parsed = sa.make_url(url)
    if sqlite_file(parsed) is None:
        return None
    engine = sa.create_engine(parsed.set(drivername="sqlite+pysqlite"))
    sa.event.listen(engine, "connect", _write_ahead_log)
    return engine


def make_engine(url: str) -> AsyncEngine:
    # imported here: the writer process on SQLite needs only make_sync_engine, and so
    # neither the async extension nor greenlet; and the extension without its ORM
    import_sqlalchemy_asyncio_lean()
    from sqlalchemy.ext.asyncio import create_async_engine

    parsed = sa.make_url(url)
    sqlite = parsed.get_backend_name() == "sqlite"
    # A file SQLite database is never "dropped" like a server connection, so the
    # pre-ping round trip per checkout buys nothing there.
    engine = create_async_engine(url, pool_pre_ping=not sqlite)
    if sqlite_file(parsed) is not None:
        sa.event.listen(engine.sync_engine, "connect", _write_ahead_log)
    return engine


def _in_memory(url: str) -> bool:
    parsed = sa.make_url(url)
    return parsed.get_backend_name() == "sqlite" and (
        parsed.database in (None, "", ":memory:") or "mode=memory" in url
    )


def _alembic_config() -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


class Database:
    def __init__(
        self,
        url: str,
        *,
        create_dirs: bool = True,
        writer: WriterKind = "thread",
        priority: WriterPriority | None = None,
    ) -> None:
        self.url = normalise_url(url)
        plain = plain_sqlite_file(self.url)
        path = plain if plain is not None else sqlite_file(self.url)
        if create_dirs and path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._engine: AsyncEngine | None = None
        #: a SQLite file's idle reads (change counters, "anything due?"), through the
        #: standard library's driver: a gateway that serves requests and polls, and is
        #: asked nothing else, never imports SQLAlchemy (None for other databases)
        self.sqlite_reads = SqliteReads(plain) if plain is not None else None
        #: batch writes (usage, audit) run on a thread of their own, off the request loop;
        #: an in-memory SQLite database lives in one engine only, so it writes here
        in_memory = plain is None and _in_memory(self.url)
        self._writes = (
            None
            if in_memory
            else WriteThread(
                lambda: make_engine(self.url),
                name="lockgate-db-writes",
            )
        )
        self._process = (
            WriteProcess(self.url, priority=priority)
            if writer == "process" and not in_memory
            else None
        )

    @property
    def engine(self) -> AsyncEngine:
        """The async engine, made (and SQLAlchemy imported) on first use."""
        if self._engine is None:
            self._engine = make_engine(self.url)
        return self._engine

    @property
    def dialect(self) -> str:
        """The database's kind ("sqlite", "postgresql", ...), read from the URL."""
        return self.url.split(":", 1)[0].split("+", 1)[0]

    @property
    def write_process(self) -> WriteProcess | None:
        """The writer process, when batches are written in one."""
        return self._process

    async def write_batch(self, job: Callable[..., T], *args: Any) -> T:
        """``job(conn, *args)`` in one transaction where batches are written: the writer
        process when configured (``job`` a module-level function of a sync ``Connection``,
        ``args`` picklable), else the write thread (or, in memory, here) through
        ``run_sync``.  Results and exceptions come back with their kind."""
        if self._process is not None:
            return await self._process.run(job, *args)

        async def work(engine: AsyncEngine) -> T:
            async with engine.begin() as conn:
                return await conn.run_sync(job, *args)

        return await self.write(work)

    async def write(self, work: Callable[[AsyncEngine], Awaitable[T]]) -> T:
        """``await work(engine)`` on the write thread (its own loop and engine).

        The batch writers call this so that building rows and SQLAlchemy's statement
        work stay off the request loop; results and exceptions come back unchanged.
        """
        if self._writes is None:
            return await work(self.engine)
        return await self._writes.run(work)

    async def poll(self, work: Callable[[AsyncEngine], Awaitable[T]]) -> T:
        """A periodic read (change counters, due work) on the write thread too.

        The polls of every replica (key and model change counters, prompt head, due
        rollouts, batches to finalize) would otherwise run their statements, and
        SQLAlchemy's and the driver's work per statement, on the request loop several
        times a second; there they add to the tail latency of the requests they land on.
        """
        return await self.write(work)

    async def poll_counter(self, sql: str) -> int:
        """A change counter (``sql`` selects one integer; none is 0): on a SQLite file
        with the standard library's driver, elsewhere by :meth:`poll`."""
        if self.sqlite_reads is not None:
            return await self.sqlite_reads.counter(sql)
        query = sa.text(sql)

        async def read(engine: AsyncEngine) -> int:
            async with engine.connect() as conn:
                value = await conn.scalar(query)
            return int(value or 0)

        return await self.poll(read)

    async def surely_empty(self, sql: str, *params: object) -> bool:
        """True when ``sql`` (a SELECT, ``?`` placeholders) is known to find no row: read
        on a SQLite file without SQLAlchemy.  False means "maybe some" (other databases
        are not asked): the caller then runs its own query.  The idle polls ask this
        first, so that an idle gateway on SQLite needs no SQLAlchemy."""
        if self.sqlite_reads is None:
            return False
        return not await self.sqlite_reads.exists(sql, params)

    async def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision.

        A database already at the shipped head (every start after the first) is checked
        with one query, without importing Alembic.
        """
        head = shipped_head()
        if head is not None and await self._version_table_revision() == head:
            return

        def upgrade(conn: Connection) -> None:
            from alembic import command

            cfg = _alembic_config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

        # Replicas starting together race to create the schema; the loser of the race
        # sees the winner's tables on its next try. Bounded in time rather than in tries:
        # on a loaded machine the winner's migration outlasts a few short retries.
        deadline = time.monotonic() + _MIGRATE_PATIENCE
        for attempt in range(1, _MIGRATE_TRIES + 1):
            try:
                async with self.engine.begin() as conn:
                    await conn.run_sync(upgrade)
                return
            except (exc.OperationalError, exc.IntegrityError, exc.ProgrammingError):
                if attempt == _MIGRATE_TRIES or time.monotonic() >= deadline:
                    raise
                await asyncio.sleep(min(0.2 * attempt, 2.0))

    @staticmethod
    def head_revision() -> str:
        """The newest schema revision this version of lockgate ships."""
        from alembic.script import ScriptDirectory

        head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
        if head is None:  # pragma: no cover - the package always ships migrations
            raise RuntimeError("no migrations found")
        return head

    async def current_revision(self) -> str | None:
        """The schema revision the database is at (None before the first migration)."""

        def read(conn: Connection) -> str | None:
            from alembic.runtime.migration import MigrationContext

            return MigrationContext.configure(conn).get_current_revision()

        async with self.engine.connect() as conn:
            return await conn.run_sync(read)

    async def _version_table_revision(self) -> str | None:
        """``alembic_version``'s single row, or None (no table yet, or several heads)."""
        if self.sqlite_reads is not None:
            return await self.sqlite_reads.revision()
        try:
            async with self.engine.connect() as conn:
                query = sa.text("SELECT version_num FROM alembic_version")
                rows = (await conn.execute(query)).all()
        except (exc.OperationalError, exc.ProgrammingError):
            return None
        return str(rows[0][0]) if len(rows) == 1 else None

    async def ping(self) -> bool:
        if self.sqlite_reads is not None:  # a readiness probe: no SQLAlchemy needed
            try:
                return await self.sqlite_reads.exists("SELECT 1")
            except Exception:
                return False
        try:
            async with self.engine.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))
        except Exception:
            return False
        return True

    async def aclose(self) -> None:
        if self._process is not None:
            await self._process.aclose()
        if self._writes is not None:
            await self._writes.aclose()
        if self.sqlite_reads is not None:
            await self.sqlite_reads.aclose()
        if self._engine is not None:
            await self._engine.dispose()
