"""Batch writes off the request loop: a thread with its own event loop and engine.

The usage and audit writers queue on the request loop (no I/O there) and hand each
batch to :meth:`WriteThread.run`; the batch's rows are built and written by
SQLAlchemy on this thread's loop, against an engine of its own (an engine's
connections belong to the loop that opened them).  Only the submit and the result
cross threads, through ``asyncio.run_coroutine_threadsafe``: exceptions come back
unchanged, so the writers classify failures (transient, bad row, append race) and
keep their counters exactly as before.  The thread starts on the first write;
:meth:`aclose` disposes of its engine and joins it (a later write starts a new one,
as a disposed SQLAlchemy engine may be used again).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:  # the writer process needs no async extension
    from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["WriteThread"]

T = TypeVar("T")

_JOIN_SECONDS = 10.0
#: longest the close waits for work still running on the thread's loop
_SETTLE_SECONDS = 30.0


async def _settle(me: asyncio.Task[None] | None) -> None:
    """Wait (bounded) for every other task on this loop to end.

    A write or poll whose caller was cancelled leaves work here: SQLAlchemy closes the
    cancelled connection in a shielded task, which waits for the driver's thread
    (aiosqlite) to finish the query.  Stopping the loop under it left the driver thread
    posting its result to a closed loop (``RuntimeError: Event loop is closed`` in that
    thread) and the connection unclosed.  A task may start another (the shielded close),
    so this looks again until none is left.
    """
    loop = asyncio.get_running_loop()
    end = loop.time() + _SETTLE_SECONDS
    while (left := [t for t in asyncio.all_tasks() if t is not me]) and loop.time() < end:
        await asyncio.wait(left, timeout=end - loop.time())


class WriteThread:
    """One daemon thread running an event loop with its own engine (made on first use)."""

    def __init__(self, make_engine: Callable[[], AsyncEngine], *, name: str) -> None:
        self._make_engine = make_engine
        self._name = name
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._engine: AsyncEngine | None = None

    @property
    def started(self) -> bool:
        return self._thread is not None

    def _start(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=self._serve, args=(loop,), name=self._name, daemon=True
                )
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    @staticmethod
    def _serve(loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            loop.close()

    def _engine_here(self) -> AsyncEngine:
        """The thread's engine (only ever called on the thread's loop)."""
        if self._engine is None:
            self._engine = self._make_engine()
        return self._engine

    async def run(self, work: Callable[[AsyncEngine], Awaitable[T]]) -> T:
        """``await work(engine)`` on the thread's loop; its result or exception, here."""
        loop = self._start()

        async def call() -> T:
            return await work(self._engine_here())

        future: Future[T] = asyncio.run_coroutine_threadsafe(call(), loop)
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            future.cancel()
            raise

    async def aclose(self) -> None:
        """Dispose of the engine and stop the thread (a later write starts afresh)."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return

        async def dispose() -> None:
            await _settle(asyncio.current_task())
            engine, self._engine = self._engine, None
            if engine is not None:
                await engine.dispose()

        try:
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(dispose(), loop))
        finally:
            loop.call_soon_threadsafe(loop.stop)
            await asyncio.to_thread(thread.join, _JOIN_SECONDS)
