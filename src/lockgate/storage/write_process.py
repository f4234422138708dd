"""Batch writes in a process of their own: the database work leaves the gateway's process.

The usage and audit writers keep their queues, byte bounds, retries, dead-letter files
and counters in the gateway's process, exactly as with the write thread; only the
batch's database work (building rows, encoding and hashing audit entries, SQLAlchemy
and the driver) runs in a child process (:mod:`lockgate.storage.write_worker`), so it
neither takes CPU from the request loop's process nor holds its GIL while a request
waits.  A job is a module-level ``def job(conn, *args)`` of lockgate's and its
arguments, pickled (records cross as tuples: :func:`lockgate.records.pack`); the child
runs one job at a time, each in its own transaction (SQLite through the plain driver,
other databases through their async one), and answers with the result or the error's
kind.

What holds, and how:

- **Nothing acknowledged is lost.**  A batch counts as written only once the child has
  answered that its transaction committed.  If the child dies (killed, crashed) or
  does not answer within ``job_timeout`` seconds, the job fails with
  :class:`WriterProcessLost` (a ``ConnectionError``: transient to the writers), which
  keeps the batch queued and retries it; the next job starts a new child, and the
  restart is counted (``restarts``) and logged.  A child that died between jobs is
  replaced before the next job is sent.
- **Errors keep their kind.**  An ``IntegrityError`` (a bad row, an audit append race)
  comes back as an ``IntegrityError``, a transient database error as an
  ``OperationalError``, anything else as :class:`RemoteWriteError`: the writers
  classify them as before (retry, re-chain, or write row by row to isolate a bad row).
- **Order.**  Jobs run one at a time in the order they were sent (one lock).
- If the child dies after its commit but before its answer, the batch is written
  again: usage rows then fail on their primary key and go to the dead-letter file
  (visible, never double-counted in rollups); audit entries are appended twice, each
  copy chained and verifiable.  The window is one pipe write.

The database URL goes to the child on its stdin, never on its command line.

The child runs at idle priority where that is safe, lifted while a job waits longer than
a bound: :mod:`lockgate.storage.write_priority`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import structlog

from lockgate.storage.write_priority import WriterPriority

__all__ = [
    "RemoteDatabaseError",
    "RemoteWriteError",
    "WriteProcess",
    "WriterProcessLost",
    "read_frame",
    "write_frame",
]

log = structlog.get_logger("lockgate.storage")

T = TypeVar("T")

#: the import root of this lockgate (the child imports the same code, whatever the path)
_ROOT = str(Path(__file__).resolve().parents[2])
#: first of all, the child closes every descriptor but its pipes: uvloop does not honour
#: ``close_fds``, and an inherited listening socket (the server's is inheritable, for
#: ``--workers``) would keep accepting connections after the gateway closed it
_BOOT = (
    "import os; os.closerange(3, os.sysconf('SC_OPEN_MAX')); "
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from lockgate.storage.write_worker import main; main()"
)
_HEADER = 4
_STOP_SECONDS = 30.0


class WriterProcessLost(ConnectionError):
    """The writer process died or stopped answering: the batch was not acknowledged."""


class RemoteDatabaseError(Exception):
    """The driver error of a failed job, as text (the ``orig`` of the rebuilt error)."""


class RemoteWriteError(RuntimeError):
    """A job failed in the writer process for a reason other than the database's."""


def write_frame(data: bytes) -> bytes:
    return len(data).to_bytes(_HEADER, "big") + data


def read_frame(read: Callable[[int], bytes]) -> bytes | None:
    """One frame from a blocking ``read(n)`` (the child's side); None at end of input."""
    head = _read_exactly(read, _HEADER)
    if head is None:
        return None
    body = _read_exactly(read, int.from_bytes(head, "big"))
    if body is None:
        raise EOFError("input ended inside a frame")
    return body


def _read_exactly(read: Callable[[int], bytes], n: int) -> bytes | None:
    parts: list[bytes] = []
    left = n
    while left:
        chunk = read(left)
        if not chunk:
            return None
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def rebuild(kind: str, text: str) -> Exception:
    """The exception the writers classify, from the child's ``(kind, text)``."""
    from sqlalchemy.exc import IntegrityError, OperationalError  # a failed job: rare

    if kind == "integrity":
        return IntegrityError(text, None, RemoteDatabaseError(text))
    if kind == "transient":
        return OperationalError(text, None, RemoteDatabaseError(text))
    return RemoteWriteError(text)


class WriteProcess:
    """A child process running batch jobs against its own engine (started on first use)."""

    def __init__(
        self,
        url: str,
        *,
        job_timeout: float = 120.0,
        priority: WriterPriority | None = None,
    ) -> None:
        self._url = url
        self.job_timeout = job_timeout
        #: idle or normal scheduling of the child, and the guard that lifts it
        self.priority = priority or WriterPriority(idle=False)
        #: when each job waiting or in flight was handed over (monotonic), oldest first
        self._since: list[float] = []
        self._proc: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()
        #: children started after one died or hung (each logged)
        self.restarts = 0
        #: told of each restart (the app's metrics hook in here)
        self.listener: Callable[[], object] | None = None
        self._lost = False

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.returncode is None else None

    async def _ensure(self) -> asyncio.subprocess.Process:
        proc = self._proc
        if proc is not None and proc.returncode is None:
            return proc
        if proc is not None or self._lost:
            self.restarts += 1
            if self.listener is not None:
                self.listener()
            log.error(
                "database writer process gone; starting a new one",
                returncode=None if proc is None else proc.returncode,
                restarts=self.restarts,
            )
        self._lost = False
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _BOOT,
            _ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert proc.stdin is not None
        proc.stdin.write(write_frame(self._url.encode()))
        self._proc = proc
        self.priority.started(proc.pid)
        return proc

    def backlog_seconds(self) -> float:
        """How long the oldest job waiting or in flight has been waiting (0 when none)."""
        since = self._since
        return time.monotonic() - since[0] if since else 0.0

    async def _answer(self, proc: asyncio.subprocess.Process, since: float) -> bytes:
        """The job's answer; a job still unanswered ``starve_after`` seconds after it was
        handed over lifts an idle child (write_priority.py)."""
        assert proc.stdout is not None
        read = self._read(proc.stdout)
        priority = self.priority
        if priority.mode != "idle":
            return await read
        task = asyncio.ensure_future(read)
        try:
            left = priority.starve_after - (time.monotonic() - since)
            done, _ = await asyncio.wait((task,), timeout=max(left, 0.0))
            if not done:
                try:
                    priority.lift(proc.pid)
                except PermissionError as exc:
                    raise WriterProcessLost("the idle writer process could not be lifted") from exc
            return await task
        finally:
            if not task.done():
                task.cancel()

    @staticmethod
    async def _read(stdout: asyncio.StreamReader) -> bytes:
        head = await stdout.readexactly(_HEADER)
        return await stdout.readexactly(int.from_bytes(head, "big"))

    async def run(self, job: Callable[..., T], *args: Any) -> T:
        """``job(conn, *args)`` in one transaction in the writer process: its result, or
        its error."""
        payload = write_frame(
            pickle.dumps((job.__module__, job.__qualname__, args), pickle.HIGHEST_PROTOCOL)
        )
        since = time.monotonic()
        self._since.append(since)
        try:
            body = await self._exchange(payload, since)
        finally:
            self._since.remove(since)
        status, value = pickle.loads(body)
        if status == "ok":
            return value  # type: ignore[no-any-return]
        raise rebuild(*value)

    async def _exchange(self, payload: bytes, since: float) -> bytes:
        async with self._lock:
            proc = await self._ensure()
            assert proc.stdin is not None
            try:
                async with asyncio.timeout(self.job_timeout):
                    proc.stdin.write(payload)
                    await proc.stdin.drain()
                    body = await self._answer(proc, since)
            except WriterProcessLost:
                self._drop(proc)
                raise
            except (asyncio.IncompleteReadError, ConnectionError) as exc:
                self._drop(proc)
                raise WriterProcessLost("the database writer process exited mid-batch") from exc
            except TimeoutError as exc:
                self._drop(proc)
                raise WriterProcessLost(
                    f"the database writer process did not answer within {self.job_timeout} s"
                ) from exc
            except BaseException:
                # Cancelled mid-job: its answer would be read as the next job's; start over.
                self._drop(proc)
                raise
            self.priority.settle(proc.pid, waiting=len(self._since) - 1)
        return body

    def _drop(self, proc: asyncio.subprocess.Process) -> None:
        """Kill ``proc`` (dead or hung); the next job starts a new one."""
        self._lost = True
        self._proc = None
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()

    async def aclose(self) -> None:
        """Let the child finish and exit (end of its input); kill it if it does not."""
        async with self._lock:
            proc, self._proc = self._proc, None
            self._lost = False
            if proc is None:
                return
            # what is left is written at normal priority: a busy machine must not hold
            # up the shutdown behind an idle writer
            with contextlib.suppress(PermissionError):
                self.priority.lift(proc.pid)
            assert proc.stdin is not None
            with contextlib.suppress(ConnectionError):
                proc.stdin.close()
            try:
                await asyncio.wait_for(proc.wait(), _STOP_SECONDS)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
