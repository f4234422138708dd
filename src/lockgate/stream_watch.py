"""One pass-through layer that every observer of a stream shares.

The dispatcher (lease accounting), the limits stage (settling a reservation) and the
pipeline (in-flight count, span) each only *look* at a stream: its usage, what it
delivered, how it ended.  As nested async generators each cost a resume per chunk and
noted usage again; here they register an end callback on one ``WatchedStream``,
which notes the provider's usage (and, until it comes, what was delivered) once per
chunk, and calls every callback when the stream ends, fails or is closed, the
innermost first, as nested ``finally`` blocks would.

A stage that rewrites chunks still wraps the stream in its own generator; whoever
watches the stream after that gets a new ``WatchedStream`` around it.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from lockgate.chat import ChatStream, Chunk, Usage, close_stream, usage_from_openai
from lockgate.delivered import Delivered

__all__ = ["StreamEnd", "WatchedStream", "watched"]

#: called once when the stream ends: ``error`` is None for a complete stream, the
#: exception for a failed one, ``GeneratorExit`` for a stream closed early
StreamEnd = Callable[["WatchedStream", BaseException | None], Awaitable[None]]


class WatchedStream:
    """An async iterator over ``source`` (after ``prefix``, chunks already read)."""

    __slots__ = ("_done", "_ends", "_prefix", "_source", "delivered", "first_at", "usage")

    def __init__(self, source: ChatStream, prefix: list[Chunk] | None = None) -> None:
        self._source = source
        self._prefix = list(reversed(prefix)) if prefix else None
        self._ends: list[StreamEnd] = []
        self._done = False
        #: the provider's usage, from its usage chunk (None until it came)
        self.usage: Usage | None = None
        #: what went by before the usage chunk, for an estimate when it never comes
        self.delivered = Delivered()
        #: ``time.perf_counter()`` when the first chunk went by
        self.first_at: float | None = None

    def on_end(self, end: StreamEnd) -> WatchedStream:
        self._ends.append(end)
        return self

    def usage_or_estimate(self, messages: list[dict[str, Any]]) -> Usage | None:
        return self.usage or self.delivered.usage(messages)

    def __aiter__(self) -> WatchedStream:
        return self

    async def __anext__(self) -> Chunk:
        if self._prefix:
            chunk = self._prefix.pop()
        else:
            try:
                chunk = await self._source.__anext__()
            except StopAsyncIteration:
                await self._finish(None)
                raise
            except BaseException as exc:
                await self._finish(exc)
                raise
        if self.first_at is None:
            self.first_at = time.perf_counter()
        usage = chunk.get("usage")
        if usage:
            self.usage = usage_from_openai(usage)
        elif self.usage is None:
            self.delivered.feed(chunk)
        return chunk

    async def aclose(self) -> None:
        """Stop early (the client left): the source is closed, every callback runs."""
        await self._finish(GeneratorExit())

    async def _finish(self, error: BaseException | None) -> None:
        if self._done:
            return
        self._done = True
        failure: BaseException | None = None
        try:
            await close_stream(self._source)
        except BaseException as exc:
            failure = exc
        for end in self._ends:
            try:
                await end(self, error)
            except BaseException as exc:
                failure = failure or exc
        if failure is not None:
            raise failure


def watched(stream: ChatStream) -> WatchedStream:
    """``stream`` itself if it is watched already, else a new watch around it."""
    return stream if isinstance(stream, WatchedStream) else WatchedStream(stream)
