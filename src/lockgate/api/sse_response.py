"""A lean server-sent-events response.

Starlette's ``StreamingResponse`` opens an anyio task group per response to watch for
the client going away; on this hop that cost more than the stream itself.  Here one
plain asyncio task waits for ``http.disconnect`` and cancels the sending task, so a
client that leaves still stops the upstream at once (its stream is closed on the
way out), for about a tenth of the cost.

A client can also leave after the pipeline handed over its stream but before the
first byte: the body generator then never started, so its own clean-up (which
records the request) would never run; ``abandon`` is called instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from lockgate.chat import close_stream

__all__ = ["LastEvent", "SSEResponse"]


class LastEvent(bytes):
    """A body generator's final bytes: sent together with the end of the body (one write)."""

    __slots__ = ()


class SSEResponse(Response):
    media_type = "text/event-stream"

    def __init__(
        self,
        body: AsyncIterator[bytes],
        headers: Mapping[str, str],
        *,
        abandon: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        # Response.__init__ is not called: it would render a body this class streams.
        self.status_code = 200
        self.background = None
        self.events = body
        self.abandon = abandon
        raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        raw.append((b"content-type", b"text/event-stream; charset=utf-8"))
        self.raw_headers = raw

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        task = asyncio.current_task()
        assert task is not None
        gone = False

        async def watch() -> None:
            nonlocal gone
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    gone = True
                    task.cancel()
                    return

        watcher = asyncio.ensure_future(watch())
        started = False
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            started = True
            ended = False
            async for chunk in self.events:
                ended = type(chunk) is LastEvent
                await send({"type": "http.response.body", "body": chunk, "more_body": not ended})
            if not ended:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        except asyncio.CancelledError:
            if not gone:
                raise
            task.uncancel()  # our own cancel: the client left, nothing more to send
        except OSError:
            pass  # the client left while we were writing (uvicorn's ClientDisconnected)
        finally:
            watcher.cancel()
            await close_stream(self.events)
            if not started and self.abandon is not None:
                await self.abandon()
