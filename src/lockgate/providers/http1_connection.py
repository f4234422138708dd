"""One upstream HTTP/1.1 connection (an asyncio Protocol feeding httptools' response
parser) and the answer it delivers; the pool and the request are in ``http1.py``."""

from __future__ import annotations

import asyncio
import select
import zlib
from typing import Literal, Protocol

import httptools

__all__ = [
    "HIGH_WATER",
    "ConnectFailed",
    "Connection",
    "ConnectionPool",
    "Origin",
    "Phase",
    "ProtocolError",
    "Response",
    "Stale",
    "Timeout",
    "TooLarge",
]

#: body bytes queued unread before the socket's reads pause (stream back-pressure)
HIGH_WATER = 256 * 1024
#: an idle pooled connection older than this is checked for a close before reuse
_CHECK_AFTER = 1.0
_DECODERS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}

Phase = Literal["connect", "first_byte", "total", "idle"]
Origin = tuple[str, str, int]  # scheme, host, port


class ConnectionPool(Protocol):
    """What a connection tells its pool."""

    def put(self, conn: Connection) -> None:
        """The answer is complete and the connection may carry another request."""

    def forget(self, conn: Connection) -> None:
        """The connection is closed."""

    def write_soon(self, conn: Connection, data: bytes) -> None:
        """Write ``data`` on ``conn`` once the loop's current pass has run (batched)."""


class Timeout(TimeoutError):
    """A deadline of the request passed; ``phase`` names which."""

    def __init__(self, phase: Phase) -> None:
        super().__init__(phase)
        self.phase: Phase = phase


class ProtocolError(ConnectionError):
    """The upstream's bytes are not a valid HTTP/1.1 answer."""


class TooLarge(Exception):
    """The answer passed the response limit (declared or decoded)."""


class ConnectFailed(ConnectionError):
    """No connection could be opened (refused, DNS, TLS handshake or verification)."""


class Stale(ConnectionError):
    """A reused connection closed before any byte of the answer."""

    def __init__(self) -> None:
        super().__init__("the upstream closed a kept-alive connection before answering")


class Response:
    """One answer: status and headers, then the body as it arrives."""

    __slots__ = (
        "_chunks",
        "_conn",
        "_decoded",
        "_decoder",
        "_eof",
        "_exc",
        "_limit",
        "_paused",
        "_queued",
        "_waiter",
        "content_length",
        "headers",
        "reused",
        "status",
    )

    def __init__(self, limit: int, reused: bool) -> None:
        self.status = 0
        self.headers: dict[str, str] = {}
        self.content_length: int | None = None
        self.reused = reused
        self._conn: Connection | None = None
        self._chunks: list[bytes] = []
        self._queued = 0
        self._eof = False
        self._exc: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._limit = limit
        self._decoder: zlib._Decompress | None = None
        self._decoded = 0
        self._paused = False

    # -- the consumer's side ---------------------------------------------------------

    async def _wait(self) -> None:
        waiter = self._waiter = asyncio.get_running_loop().create_future()
        conn = self._conn
        if conn is not None:
            conn.waiting = True
            conn.wait_since = conn.loop.time()
            conn.arm()
        try:
            await waiter
        finally:
            self._waiter = None
            if conn is not None:
                conn.waiting = False

    async def head(self) -> None:
        """Wait for the status line and headers."""
        while self.status == 0:
            if self._exc is not None:
                raise self._exc
            await self._wait()

    def read_nowait(self) -> bytes:
        """The body bytes already here (raises the connection's failure once they are
        taken)."""
        chunks = self._chunks
        if not chunks:
            if self._exc is not None:
                raise self._exc
            return b""
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        self._queued = 0
        if self._paused:
            self._paused = False
            conn = self._conn
            if conn is not None:
                conn.resume()
        return data

    @property
    def buffered(self) -> int:
        """Body bytes arrived and not yet read (reads pause above a high-water mark)."""
        return self._queued

    def at_eof(self) -> bool:
        return self._eof and not self._chunks

    async def readany(self) -> bytes:
        """The next body bytes; ``b""`` at the end."""
        while not self._chunks and not self._eof:
            if self._exc is not None:
                raise self._exc
            await self._wait()
        return self.read_nowait()

    async def read(self) -> bytes:
        """The whole body (the limit given to the request applies)."""
        while not self._eof:
            if self._exc is not None:
                raise self._exc
            await self._wait()
        return self.read_nowait()

    def release(self) -> None:
        """Done with the answer: its connection goes back to the pool if the answer was
        read to its end, else it is closed."""
        conn = self._conn
        if conn is not None:
            conn.abort()

    close = release

    # -- the protocol's side ---------------------------------------------------------

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, exc: BaseException) -> None:
        if self._exc is None and not self._eof:
            self._exc = exc
        self._wake()

    def _feed(self, data: bytes) -> None:
        decoder = self._decoder
        if decoder is not None:
            # Bounded expansion: never more than the limit (plus one byte to tell) in all.
            data = decoder.decompress(data, max(self._limit - self._decoded, 0) + 1)
            if decoder.unconsumed_tail:
                self._decoded = self._limit + 1
                raise TooLarge
        self._decoded += len(data)
        if data:
            self._chunks.append(data)
            self._queued += len(data)
            self._wake()

    def _finish(self) -> None:
        decoder = self._decoder
        if decoder is not None:
            rest = decoder.flush()
            if rest:
                self._feed(rest)
        self._eof = True
        self._wake()


class Connection(asyncio.Protocol):
    """One HTTP/1.1 connection; at most one request on it at a time."""

    def __init__(
        self, pool: ConnectionPool, origin: Origin, loop: asyncio.AbstractEventLoop
    ) -> None:
        self.pool = pool
        self.origin = origin
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.resp: Response | None = None
        self.closed = False
        self.uses = 0
        self.idle_since = 0.0
        self.got_bytes = False
        self.chunked = False
        self.header_pairs: list[tuple[bytes, bytes]] = []
        # deadlines (loop time; 0: none) and the one timer handle that serves them all
        self.total_at = 0.0
        self.head_at = 0.0
        self.idle = 0.0
        self.waiting = False
        self.wait_since = 0.0
        self.timer: asyncio.TimerHandle | None = None
        self.timer_at = 0.0

    # -- asyncio.Protocol --------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        resp = self.resp
        if resp is None:
            # Bytes on an idle connection: nothing may be trusted on it any more.
            self.close()
            return
        self.got_bytes = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            # A callback's own failure (too large, bad encoding) rides in the context.
            cause = exc.__context__
            failure = cause if isinstance(cause, (TooLarge, ProtocolError)) else exc
            if not isinstance(failure, (TooLarge, ProtocolError)):
                failure = ProtocolError(f"invalid HTTP answer: {exc}")
            self._drop(failure)
            return
        if self.resp is resp and resp._queued > HIGH_WATER and not resp._paused:
            resp._paused = True
            assert self.transport is not None
            self.transport.pause_reading()

    def eof_received(self) -> bool | None:
        self._lost(None)
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost(exc)

    # -- httptools callbacks -----------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self.header_pairs.append((name, value))

    def on_headers_complete(self) -> None:
        resp = self.resp
        assert resp is not None
        status = self.parser.get_status_code()
        pairs = self.header_pairs
        self.header_pairs = []
        if 100 <= status < 200:
            return  # an interim answer (103 Early Hints): the real one follows
        headers = resp.headers
        for name, value in pairs:
            key = name.decode("latin-1").lower()
            text = value.decode("latin-1")
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
        length = headers.get("content-length")
        if length is not None and length.isdigit():
            resp.content_length = int(length)
        encoding = headers.get("content-encoding")
        if encoding is not None and encoding.lower() != "identity":
            wbits = _DECODERS.get(encoding.strip().lower())
            if wbits is None:
                raise ProtocolError(f"unsupported content-encoding {encoding!r}")
            resp._decoder = zlib.decompressobj(wbits)
        self.chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        resp.status = status
        if self.head_at:
            self.head_at = 0.0  # the first-byte deadline is met
        resp._wake()

    def on_body(self, body: bytes) -> None:
        resp = self.resp
        if resp is not None and resp.status:
            resp._feed(body)

    def on_message_complete(self) -> None:
        resp = self.resp
        if resp is None or not resp.status:
            return  # the end of an interim answer
        resp._finish()
        self.resp = None
        resp._conn = None
        # The timer stays: the next request's deadlines are later, so it serves them
        # too (re-armed when it fires) instead of one new timer per request.
        if self.parser.should_keep_alive() and not self.closed:
            self.pool.put(self)
        else:
            self.close()

    # -- the request ---------------------------------------------------------------------

    def send(self, head: bytes, body: bytes, resp: Response) -> None:
        self.resp = resp
        resp._conn = self
        self.got_bytes = False
        self.uses += 1
        transport = self.transport
        assert transport is not None
        if len(body) < 64 * 1024:
            self.pool.write_soon(self, head + body)
        else:
            transport.writelines((head, body))

    def arm(self) -> None:
        """(Re)schedule the timer for the nearest deadline now in force."""
        at = self.total_at
        if self.head_at and (not at or self.head_at < at):
            at = self.head_at
        if self.waiting and self.idle and self.resp is not None and self.resp.status:
            idle_at = self.wait_since + self.idle
            if not at or idle_at < at:
                at = idle_at
        if not at:
            return
        timer = self.timer
        if timer is not None:
            if self.timer_at <= at:
                return  # fires first; it re-arms for the later deadline
            timer.cancel()
        self.timer_at = at
        self.timer = self.loop.call_at(at, self._on_timer)

    def _on_timer(self) -> None:
        self.timer = None
        resp = self.resp
        if resp is None:
            return
        now = self.loop.time()
        phase: Phase | None = None
        if self.total_at and now >= self.total_at:
            phase = "total"
        elif self.head_at and now >= self.head_at:
            phase = "first_byte"
        elif self.waiting and self.idle and resp.status and now >= self.wait_since + self.idle:
            phase = "idle"
        if phase is None:
            self.arm()
        else:
            self._drop(Timeout(phase))

    def _cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def resume(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.resume_reading()

    # -- ends ---------------------------------------------------------------------------

    def _lost(self, exc: Exception | None) -> None:
        was_closed = self.closed
        self.closed = True
        self.pool.forget(self)
        resp = self.resp
        if resp is None:
            return
        if resp.status and not self.chunked and resp.content_length is None:
            # A close-delimited body ends with the connection.
            try:
                resp._finish()
            except TooLarge as too_large:
                resp._fail(too_large)
            self.resp = None
            resp._conn = None
            self._cancel_timer()
            return
        if not self.got_bytes and self.uses > 1 and not was_closed:
            failure: BaseException = Stale()
        elif exc is not None:
            failure = exc
        else:
            failure = ConnectionResetError("the upstream closed the connection mid-answer")
        self.resp = None
        resp._conn = None
        self._cancel_timer()
        resp._fail(failure)

    def _drop(self, exc: BaseException) -> None:
        resp = self.resp
        self.resp = None
        self._cancel_timer()
        self.close()
        if resp is not None:
            resp._conn = None
            resp._fail(exc)

    def abort(self) -> None:
        """The consumer let go of an unfinished answer: the connection cannot be reused."""
        resp = self.resp
        self.resp = None
        if resp is not None:
            resp._conn = None
        self._cancel_timer()
        self.close()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.pool.forget(self)
        if self.transport is not None:
            self.transport.abort()

    def stale(self, now: float) -> bool:
        """Whether an idle connection is unusable: closed, or (idle a while) readable,
        which on an idle connection means the upstream's close or stray bytes."""
        if self.closed or self.transport is None or self.transport.is_closing():
            return True
        if now - self.idle_since < _CHECK_AFTER:
            return False
        sock = self.transport.get_extra_info("socket")
        if sock is None:
            return False
        try:
            readable, _, _ = select.select([sock.fileno()], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)
