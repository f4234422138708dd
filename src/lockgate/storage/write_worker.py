"""The writer process's side of :mod:`lockgate.storage.write_process`.

Reads the database URL, then jobs, as frames on stdin; runs each on its own engine,
one at a time; answers each on the original stdout with ``("ok", result)`` or
``("error", (kind, text))``, kind being ``integrity``, ``transient`` or ``error``.  Its
fd 1 is pointed at stderr so that nothing printed can corrupt the answers.  Ends at
the end of its input (the gateway closed it, or died); SIGINT and SIGTERM are ignored.

Its memory is one more process per worker, so it loads only what a batch needs: rich
(through structlog), SQLAlchemy's ORM and, on SQLite, its async extension stay out
(:func:`main` hides them before the first lockgate import).
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import os
import pickle
import signal
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, BinaryIO

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

__all__ = ["main"]

_TEXT = 2000
#: allocations between young collections: a batch builds thousands of short-lived rows,
#: dicts and tuples that reference counting frees, and at Python's default (700) the
#: collector ran dozens of times per batch (~6 µs per record)
_GC_YOUNG = 20_000


def _job(module: str, qualname: str) -> Callable[..., Any]:
    if not module.startswith("lockgate.") or "." in qualname:
        raise ValueError(f"not a writer job: {module}.{qualname}")
    job: Callable[..., Any] = getattr(importlib.import_module(module), qualname)
    return job


def _kind(exc: BaseException) -> str:
    from sqlalchemy.exc import IntegrityError

    from lockgate.storage.dead_letter import is_transient

    if isinstance(exc, IntegrityError):
        return "integrity"
    return "transient" if is_transient(exc) else "error"


async def _serve(read: Callable[[int], bytes], out: BinaryIO) -> None:
    from lockgate.storage.database import make_engine, make_sync_engine
    from lockgate.storage.write_cpu import CpuAvoider
    from lockgate.storage.write_process import read_frame, write_frame

    url = read_frame(read)
    if url is None:
        return
    # SQLite through the plain driver: no aiosqlite thread hop per statement (and neither
    # SQLAlchemy's async extension nor greenlet in this process)
    sync = make_sync_engine(url.decode())
    engine = None
    if sync is not None:
        from lockgate.storage.bulk import plain_binds

        plain_binds()
    else:
        from lockgate.storage.lean_import import import_sqlalchemy_asyncio_lean

        import_sqlalchemy_asyncio_lean()  # its engine, not its ORM half
        engine = make_engine(url.decode())
    # One connection kept from job to job (not a pool checkout, reset and check-in per
    # batch); after a failed job it is replaced, whatever state the failure left it in.
    conn: Connection | None = None
    # each batch runs off the CPU the gateway's loop is on (storage/write_cpu.py)
    avoider = CpuAvoider(os.getppid())
    # What is loaded by now lives as long as the process: the collector need not walk it
    # (full collections walked the whole import heap, 20-27 ms each: p99tail's probe)
    gc.collect()
    gc.freeze()
    gc.set_threshold(_GC_YOUNG)
    modules = len(sys.modules)
    try:
        while (frame := read_frame(read)) is not None:
            avoider.avoid()
            try:
                module, qualname, args = pickle.loads(frame)
                job = _job(module, qualname)
                if sync is not None:
                    if conn is None:
                        conn = sync.connect()
                    try:
                        with conn.begin():
                            value = job(conn, *args)
                    except BaseException:
                        failed, conn = conn, None
                        failed.close()
                        raise
                else:
                    assert engine is not None
                    async with engine.begin() as aconn:
                        value = await aconn.run_sync(job, *args)
                answer = pickle.dumps(("ok", value), pickle.HIGHEST_PROTOCOL)
            except Exception as exc:
                text = f"{type(exc).__name__}: {exc}"[:_TEXT]
                answer = pickle.dumps(("error", (_kind(exc), text)))
            out.write(write_frame(answer))
            out.flush()
            if len(sys.modules) != modules:  # a job's first run imported its code: same
                gc.collect()
                gc.freeze()
                modules = len(sys.modules)
    finally:
        if conn is not None:
            conn.close()
        if engine is not None:
            await engine.dispose()
        if sync is not None:
            sync.dispose()


def main() -> None:
    from lockgate.serving.lean import import_hiding

    # structlog's optional extras: rich (its console's tracebacks) and greenlet (its
    # greenlet-local context); this process logs nothing through either
    import_hiding("structlog", "rich", "greenlet")
    # A terminal's Ctrl-C or a supervisor's SIGTERM to the process group is the gateway's
    # to handle: it flushes its queues through this process, then closes its input.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    source = os.fdopen(os.dup(0), "rb", buffering=0)
    asyncio.run(_serve(source.read, out))
