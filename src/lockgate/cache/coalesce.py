"""In-process request coalescing ("singleflight").

Concurrent requests with the same cache key share one upstream call:

* ``run`` (non-streaming): the first caller starts ``call()`` in its own task;
  every caller, the first included, awaits that task.  A caller that goes away
  (cancelled, client disconnected) leaves; the task is cancelled only when the
  last caller has left, so one impatient client never kills the answer others
  are waiting for.  A failure reaches every caller; with
  ``on_leader_error="retry"`` followers try once more (coalescing among
  themselves again) instead.
* ``stream``: a pump task iterates the upstream stream into one shared chunk
  list; each caller gets its own cursor over that list, so a follower that
  joins mid-stream first receives the chunks already produced, then the live
  ones.  Memory is one chunk list per flight whatever the number of followers;
  after ``max_chunks`` the flight stops taking new followers.  When every
  listener has left (``aclose`` or cancellation while waiting) the pump, and
  with it the upstream call, is cancelled.  Upstream errors reach every
  listener after the chunks produced before them.

Chunk dicts and response bodies are shared between callers: later stages must
replace them, never mutate them in place (the rule ``ChatRequest`` already sets).
Coalescing is per process; replicas do not coalesce with each other.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from typing import Literal

from lockgate.chat import ChatResponse, ChatStream, Chunk, close_stream
from lockgate.errors import InternalError

__all__ = ["CoalescedStreamAbandonedError", "Coalescer", "LeaderErrorMode", "SharedStream"]

LeaderErrorMode = Literal["propagate", "retry"]


class CoalescedStreamAbandonedError(InternalError):
    """The shared upstream stream was cancelled because every listener had left."""

    code = "stream_abandoned"


class _Call:
    __slots__ = ("task", "waiters")

    def __init__(self) -> None:
        self.task: asyncio.Task[ChatResponse] | None = None
        self.waiters = 0


class _StreamFlight:
    __slots__ = ("chunks", "done", "error", "joinable", "key", "listeners", "pump", "wake")

    def __init__(self, key: str) -> None:
        self.key = key
        self.chunks: list[Chunk] = []
        self.done = False
        self.error: BaseException | None = None
        self.joinable = True
        self.listeners = 0
        self.pump: asyncio.Task[None] | None = None
        self.wake: asyncio.Event | None = None

    def notify(self) -> None:
        # Events are made only when a listener actually has to wait.
        event = self.wake
        if event is not None:
            self.wake = None
            event.set()


class SharedStream:
    """One caller's cursor over a shared stream (a ``ChatStream`` with ``aclose``)."""

    __slots__ = ("_active", "_coalescer", "_flight", "_pos")

    def __init__(self, coalescer: Coalescer, flight: _StreamFlight) -> None:
        self._coalescer = coalescer
        self._flight = flight
        self._pos = 0
        self._active = True
        flight.listeners += 1

    def __aiter__(self) -> SharedStream:
        return self

    async def __anext__(self) -> Chunk:
        flight = self._flight
        if not self._active and not flight.done:
            # Resumed after a cancellation: listen again.
            self._active = True
            flight.listeners += 1
        while True:
            if self._pos < len(flight.chunks):
                chunk = flight.chunks[self._pos]
                self._pos += 1
                return chunk
            if flight.done:
                self._leave()
                if flight.error is not None:
                    raise flight.error
                raise StopAsyncIteration
            event = flight.wake
            if event is None:
                event = flight.wake = asyncio.Event()
            try:
                await event.wait()
            except asyncio.CancelledError:
                self._leave()
                raise

    async def aclose(self) -> None:
        """Stop listening; the last listener to leave cancels the upstream call."""
        self._leave()

    def _leave(self) -> None:
        if not self._active:
            return
        self._active = False
        flight = self._flight
        flight.listeners -= 1
        if flight.listeners == 0 and not flight.done:
            self._coalescer._abandon(flight)


class Coalescer:
    """Share identical in-flight upstream calls between concurrent callers."""

    def __init__(
        self,
        *,
        on_leader_error: LeaderErrorMode = "propagate",
        max_chunks: int = 100_000,
    ) -> None:
        self.on_leader_error = on_leader_error
        self.max_chunks = max_chunks
        self._calls: dict[str, _Call] = {}
        self._streams: dict[str, _StreamFlight] = {}
        #: Callers that were served by another caller's upstream call (for metrics).
        self.followers = 0

    @property
    def in_flight(self) -> int:
        """Upstream calls currently shared (non-stream plus stream)."""
        return len(self._calls) + len(self._streams)

    def has_call(self, key: str) -> bool:
        """Whether a non-streaming call for ``key`` is in flight (``run`` would join it)."""
        return key in self._calls

    def join_stream(self, key: str) -> SharedStream | None:
        """A listener on the in-flight stream for ``key``, if there is one."""
        flight = self._streams.get(key)
        if flight is None:
            return None
        self.followers += 1
        return SharedStream(self, flight)

    async def run(
        self, key: str, call: Callable[[], Awaitable[ChatResponse]]
    ) -> tuple[ChatResponse, bool]:
        """``call()``'s response, shared with concurrent callers of the same ``key``.

        Returns ``(response, was_follower)``.
        """
        return await self._run(key, call, retry=self.on_leader_error == "retry")

    async def _run(
        self, key: str, call: Callable[[], Awaitable[ChatResponse]], *, retry: bool
    ) -> tuple[ChatResponse, bool]:
        flight = self._calls.get(key)
        follower = flight is not None
        if flight is None:
            flight = self._calls[key] = _Call()
            flight.task = asyncio.get_running_loop().create_task(self._lead(key, flight, call))
        else:
            self.followers += 1
        task = flight.task
        assert task is not None
        flight.waiters += 1
        try:
            response = await asyncio.shield(task)
        except Exception:
            if follower and retry:
                return await self._run(key, call, retry=False)
            raise
        finally:
            flight.waiters -= 1
            if flight.waiters == 0 and not task.done():
                if self._calls.get(key) is flight:
                    del self._calls[key]
                task.cancel()
        if follower:
            usage = dataclasses.replace(response.usage)
            return ChatResponse(body=response.body, usage=usage), True
        return response, False

    async def _lead(
        self, key: str, flight: _Call, call: Callable[[], Awaitable[ChatResponse]]
    ) -> ChatResponse:
        try:
            return await call()
        finally:
            # Gone before anyone is woken, so a late arrival starts afresh (or hits the cache).
            if self._calls.get(key) is flight:
                del self._calls[key]

    def stream(self, key: str, start: Callable[[], ChatStream]) -> tuple[SharedStream, bool]:
        """A stream of ``start()``'s chunks, shared with concurrent callers of ``key``.

        Must be called from a running event loop.  Returns ``(stream, was_follower)``;
        call ``aclose()`` on the stream when leaving early.
        """
        joined = self.join_stream(key)
        if joined is not None:
            return joined, True
        flight = self._streams[key] = _StreamFlight(key)
        listener = SharedStream(self, flight)
        flight.pump = asyncio.get_running_loop().create_task(self._pump(flight, start))
        return listener, False

    def _forget_stream(self, flight: _StreamFlight) -> None:
        flight.joinable = False
        if self._streams.get(flight.key) is flight:
            del self._streams[flight.key]

    def _abandon(self, flight: _StreamFlight) -> None:
        # Marked done here, not only in the pump: a pump cancelled before its first
        # step never runs its ``finally``, and nobody may wait on it forever.
        self._forget_stream(flight)
        flight.error = CoalescedStreamAbandonedError("every listener left the stream")
        flight.done = True
        flight.notify()
        if flight.pump is not None:
            flight.pump.cancel()

    async def _pump(self, flight: _StreamFlight, start: Callable[[], ChatStream]) -> None:
        upstream: ChatStream | None = None
        try:
            upstream = start()
            async for chunk in upstream:
                flight.chunks.append(chunk)
                if flight.joinable and len(flight.chunks) >= self.max_chunks:
                    self._forget_stream(flight)
                flight.notify()
        except asyncio.CancelledError:
            if flight.error is None:
                flight.error = CoalescedStreamAbandonedError("the shared stream was cancelled")
            raise
        except Exception as exc:
            flight.error = exc
        finally:
            flight.done = True
            self._forget_stream(flight)
            flight.notify()
            await close_stream(upstream)
