"""The hot routes served by the protocol itself, without ASGI (``server.fast_lane``).

A chat, messages or embeddings request is most of a gateway's traffic, and on that
path the HTTP layer cost more than lockgate's own work (bench/README.md, issue 18):
the ASGI send messages, uvicorn's per-header checks and head/body writes, Starlette's
``Response.__call__`` and, per stream, a task watching for the client to leave.  Here
the protocol hands such a request to its endpoint directly and writes the answer
itself: the status line, headers and body of a whole response in one
``transport.write``; a stream's events as chunked frames, one write per event, the
head with the first of them.  Whole answers finished in one pass of the loop are
written together after it (``FastLane.answer_soon``, at most ``_BATCH`` at a time): the
work of each request before its answer (~0.1 ms) would otherwise space the writes so
that a client on the same host (a load generator, a proxy) sleeps and wakes once per
answer (session 12: wrk 29.5 -> 19.1 us per request, lockgate -0.015 ms); the response
completes (keep-alive, the next pipelined request) when its answer is written.

Everything else about the exchange is uvicorn's: the request is parsed, queued when
pipelined, timed out and refused by the same protocol (``GuardedHttpProtocol``), its
body arrives through the same ``RequestResponseCycle`` (``receive``, ``Expect:
100-continue``, the body timeout's disconnect), keep-alive, ``connection: close``,
HTTP/1.0 and the drain on shutdown follow the cycle's ``keep_alive`` as before, and
writing waits while the transport's buffer is full.  The endpoint is the very one the
ASGI app routes to, given the same Starlette ``Request`` over the same scope, and its
``Response`` is written with the bytes uvicorn would write for it (the default
``date`` and ``server`` headers first, the same checks on names and values).  Routes
off this list (admin, console, ops, every GET) still go through the ASGI app.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Mapping
from typing import Any

from starlette.responses import Response
from uvicorn.config import Config
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware
from uvicorn.protocols.http.httptools_impl import (
    HEADER_RE,
    HEADER_VALUE_RE,
    STATUS_LINE,
    RequestResponseCycle,
)

from lockgate.api.common import DirectRequest, Endpoint
from lockgate.api.json_answer import JSONAnswer
from lockgate.api.sse_response import LastEvent, SSEResponse
from lockgate.chat import close_stream

__all__ = ["FAST_LANE_STATE_KEY", "FastExchange", "FastLane"]

#: where the lifespan state carries the process's ``FastLane`` (absent: ASGI only)
FAST_LANE_STATE_KEY = "lockgate.fast_lane"

_LAST_CHUNK = b"0\r\n\r\n"
_CHUNKED = b"transfer-encoding: chunked\r\n"
_CLOSE = b"connection: close\r\n"
_500_HEADERS = [
    (b"content-type", b"text/plain; charset=utf-8"),
    (b"content-length", b"21"),
    (b"connection", b"close"),
]

#: whole answers written together at most (a batch full before the pass ends goes at once)
_BATCH = 8

log = logging.getLogger("uvicorn.error")


_defaults: tuple[object, bytes] = (None, b"")


def _default_lines(headers: list[tuple[bytes, bytes]]) -> bytes:
    """uvicorn's default header lines (``date``, ``server``), built once per list: the
    server puts a new list in place when the date changes."""
    global _defaults
    known, lines = _defaults
    if known is not headers:
        lines = b"".join([b"%b: %b\r\n" % (name, value) for name, value in headers])
        _defaults = (headers, lines)
    return lines


async def _scope_only(scope: Any, receive: Any, send: Any) -> None:
    """The inner app of the fast lane's proxy-headers middleware: only its change to the
    scope is wanted."""


@functools.lru_cache(maxsize=16)
def proxy_headers(config: Config) -> ProxyHeadersMiddleware | None:
    """uvicorn's ``X-Forwarded-For`` / ``-Proto`` handling as the ASGI app gets it (on by
    default, trusting 127.0.0.1): the client address a trusted proxy forwarded becomes the
    request's client, for per-IP limits and records alike; None when it is off."""
    if not config.proxy_headers:
        return None
    return ProxyHeadersMiddleware(_scope_only, trusted_hosts=config.forwarded_allow_ips)


def _noop() -> None:
    pass


class FastLane:
    """The POST routes the protocol serves itself (path -> endpoint), and the whole
    answers waiting for the end of the loop's pass (``answer_soon``)."""

    __slots__ = ("_answers", "routes")

    def __init__(self, routes: Mapping[str, Endpoint]) -> None:
        self.routes = dict(routes)
        self._answers: list[FastExchange] = []

    def answer_soon(self, exchange: FastExchange) -> None:
        """Write ``exchange``'s queued answer after the loop's current pass, with the
        other answers finished in it (at ``_BATCH`` queued, the batch goes at once)."""
        out = self._answers
        if not out:
            asyncio.get_running_loop().call_soon(self._write_answers, out)
        out.append(exchange)
        if len(out) >= _BATCH:
            self._answers = []  # the scheduled call finds this batch written
            self._write_answers(out)

    def _write_answers(self, out: list[FastExchange]) -> None:
        if out is self._answers:
            self._answers = []
        batch = out[:]
        out.clear()
        for exchange in batch:
            exchange.send_queued()


class _FastRequest(DirectRequest):
    """Starlette's ``Request`` over the cycle, as the ASGI path makes it; a body that has
    arrived whole is taken from the cycle at once, as ``receive`` would hand it over
    (``Expect: 100-continue``, a body still arriving or a client gone: ``receive``)."""

    def __init__(self, cycle: RequestResponseCycle, exchange: FastExchange) -> None:
        # uvicorn's typed scope and receive are the ASGI ones Starlette takes
        super().__init__(cycle.scope, cycle.receive)  # type: ignore[arg-type]
        self._cycle = cycle
        self._exchange = exchange

    def watch_client(self) -> None:
        self._exchange.watch()

    def unwatch_client(self) -> bool:
        return self._exchange.unwatch()

    async def body(self) -> bytes:
        cycle = self._cycle
        if (
            hasattr(self, "_body")
            or self._stream_consumed
            or cycle.more_body
            or cycle.disconnected
            or cycle.waiting_for_100_continue
        ):
            return await super().body()
        body = bytes(cycle.body)
        cycle.body = bytearray()
        cycle.message_event.clear()
        cycle.flow.resume_reading()
        self._body = body
        self._stream_consumed = True
        return body


class FastExchange:
    """One request of a hot route: run its endpoint, write its answer on the socket."""

    __slots__ = (
        "_gone",
        "_queued",
        "_task",
        "cycle",
        "endpoint",
        "lane",
        "proxy",
        "task",
        "transport",
    )

    def __init__(
        self,
        cycle: RequestResponseCycle,
        endpoint: Endpoint,
        transport: asyncio.Transport,
        proxy: ProxyHeadersMiddleware | None,
        lane: FastLane | None = None,
    ) -> None:
        self.cycle = cycle
        self.endpoint = endpoint
        self.transport = transport
        self.proxy = proxy
        #: the lane batching whole answers (None: each is written at once)
        self.lane = lane
        #: a whole answer waiting for the end of the loop's pass (``FastLane.answer_soon``)
        self._queued: bytes | None = None
        #: the task to cancel if the client leaves: while the upstream is called
        #: (``watch``) and while a stream is written
        self._task: asyncio.Task[Any] | None = None
        self._gone = False
        #: the task running this exchange (set by the protocol that starts it)
        self.task: asyncio.Task[Any] | None = None

    async def run(self) -> None:
        cycle = self.cycle
        try:
            if self.proxy is not None:
                await self.proxy(cycle.scope, cycle.receive, cycle.send)
            response = await self.endpoint(_FastRequest(cycle, self))
            if isinstance(response, SSEResponse):
                await self._stream(response)
            else:
                await self._whole(response)
        except BaseException as exc:
            log.error("Exception in ASGI application\n", exc_info=exc)
            if not cycle.response_started:
                self._write(self._head(500, _500_HEADERS) + b"\r\n" + b"Internal Server Error")
            else:
                self.transport.close()
        finally:
            if self._queued is None:
                cycle.on_response = _noop
            # else: ``send_queued`` completes the response, then drops the callback

    def client_gone(self) -> None:
        """The connection was lost: the watched work (the upstream call, a stream being
        sent) is cancelled."""
        task = self._task
        if task is not None and not self.cycle.response_complete:
            self._task = None
            self._gone = True
            task.cancel()

    def watch(self) -> None:
        """Cancel the exchange's task when the client leaves (now, if it already left)."""
        self._task = self.task
        if self.cycle.disconnected:
            self.client_gone()

    def unwatch(self) -> bool:
        """Stop watching; whether the client left (and the task was cancelled for it)."""
        self._task = None
        return self._gone

    # -- whole responses -----------------------------------------------------------------

    async def _whole(self, response: Response) -> None:
        cycle = self.cycle
        if cycle.flow.write_paused and not cycle.disconnected:
            await cycle.flow.drain()
        if cycle.disconnected:
            return
        status = response.status_code
        body = response.body
        if type(response) is JSONAnswer and response.lines is not None:
            # lockgate's own JSON answer: its header lines are rendered already
            data = self._json_head(response, response.lines) + b"\r\n" + body
        elif status in (204, 304) or any(
            name == b"content-length" for name, _ in response.raw_headers
        ):
            data = self._head(status, response.raw_headers) + b"\r\n" + body
        else:
            head = self._head(status, response.raw_headers)
            # uvicorn frames a body of unknown length as one chunk
            frame = b"%x\r\n%b\r\n" % (len(body), body) if body else b""  # type: ignore[str-format]
            data = head + _CHUNKED + b"\r\n" + frame + _LAST_CHUNK
        lane = self.lane
        if lane is not None and cycle.keep_alive and response.background is None:
            # Written after this pass with the other answers finished in it: the client
            # (on this host or behind a proxy) reads several per wake-up.  The response
            # completes when it is written (a pipelined request waits until then).
            self._queued = data
            lane.answer_soon(self)
            return
        self._write(data)
        if response.background is not None:
            await response.background()

    def send_queued(self) -> None:
        """Write the queued answer (if still queued) and complete the response."""
        data = self._queued
        if data is None:
            return
        self._queued = None
        if not self.transport.is_closing():
            self.transport.write(data)
        self._complete()
        if self.task is None or self.task.done():
            self.cycle.on_response = _noop

    def _write(self, data: bytes) -> None:
        self.transport.write(data)
        self._complete()

    def _complete(self) -> None:
        cycle = self.cycle
        cycle.response_complete = True
        cycle.message_event.set()
        if not cycle.keep_alive:
            self.transport.close()
        cycle.on_response()

    def _json_head(self, response: JSONAnswer, lines: bytes) -> bytes:
        """``_head`` for a ``JSONAnswer`` with rendered lines: the same checks and bytes
        (its names are lower case, none of them ``connection``)."""
        cycle = self.cycle
        cycle.response_started = True
        cycle.waiting_for_100_continue = False
        response.check()
        head = STATUS_LINE[response.status_code] + _default_lines(cycle.default_headers) + lines
        if not cycle.keep_alive:
            head += _CLOSE
        return head

    def _head(self, status: int, headers: list[tuple[bytes, bytes]]) -> bytes:
        """The status line and header lines (no blank line) as uvicorn writes them; the
        response has started from here on.  A ``connection: close`` header, HTTP/1.0 or
        a server shutting down ends the keep-alive, as in uvicorn."""
        cycle = self.cycle
        cycle.response_started = True
        cycle.waiting_for_100_continue = False
        # uvicorn's checks on every name and value, in one search each
        names = [name.lower() for name, _ in headers]
        if HEADER_RE.search(b"-".join(names)):
            raise RuntimeError("Invalid HTTP header name.")
        if HEADER_VALUE_RE.search(b"\t".join([value for _, value in headers])):
            raise RuntimeError("Invalid HTTP header value.")
        lines = b"".join(
            [b"%b: %b\r\n" % (name, value) for name, (_, value) in zip(names, headers, strict=True)]
        )
        said_close = False
        if b"connection" in names:
            for name, (_, value) in zip(names, headers, strict=True):
                if name == b"connection" and b"close" in [
                    token.lower().strip() for token in value.split(b",")
                ]:
                    cycle.keep_alive = False
                    said_close = True
        head = STATUS_LINE[status] + _default_lines(cycle.default_headers) + lines
        if not cycle.keep_alive and not said_close:
            head += _CLOSE
        return head

    # -- streams -----------------------------------------------------------------------

    async def _stream(self, response: SSEResponse) -> None:
        """The events as chunked frames; the head goes out with the first event, or alone
        on the loop's next pass when that event is not ready by then."""
        cycle = self.cycle
        events = response.events
        if cycle.disconnected:
            # Gone before a byte was sent: the events never start, the abandon hook records it.
            await close_stream(events)
            if response.abandon is not None:
                await response.abandon()
            return
        held = [self._head(200, response.raw_headers) + _CHUNKED + b"\r\n"]
        transport = self.transport

        def flush_head() -> None:
            if held and not transport.is_closing():
                transport.write(held.pop())

        handle = asyncio.get_running_loop().call_soon(flush_head)
        self._task = self.task  # client_gone cancels it
        flow = cycle.flow
        try:
            ended = False
            async for chunk in events:
                ended = type(chunk) is LastEvent
                if flow.write_paused and not cycle.disconnected:
                    await flow.drain()
                frame = b"%x\r\n%b\r\n" % (len(chunk), chunk) if chunk else b""
                if ended:
                    frame += _LAST_CHUNK
                if held:
                    handle.cancel()
                    frame = held.pop() + frame
                if frame and not cycle.disconnected:
                    transport.write(frame)
            if not ended:
                transport.write((held.pop() if held else b"") + _LAST_CHUNK)
            self._task = None
            if not cycle.disconnected:
                self._complete()
        except asyncio.CancelledError:
            if not self._gone:
                raise
            asyncio.current_task().uncancel()  # type: ignore[union-attr]  # the client left
        except OSError:
            pass  # the client left while we were writing
        finally:
            self._task = None
            handle.cancel()
            await close_stream(events)
