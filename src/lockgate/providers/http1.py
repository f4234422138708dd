"""A lean HTTP/1.1 client for the provider hop: one asyncio Protocol per connection,
httptools' response parser (llhttp, the parser uvicorn's server side uses), a
keep-alive pool per origin bounded by ``max_connections`` in all.

It does only what the hop needs: POST a body held in memory, read a
content-length, chunked or close-delimited answer, gzip/deflate decoding, TLS
with the default verifying context (SNI, ALPN ``http/1.1``), one timer per
request for every deadline, and back-pressure on stream reads.  Everything else
(proxies, cookies, redirects, credentials in URLs) is aiohttp's job: the seam
(``transport.py``) sends such requests there.

Errors: ``ConnectionError`` (OSError) for a failed or dropped connection,
``Timeout`` (a TimeoutError naming the deadline that passed), ``ProtocolError``
for an answer that is not HTTP/1.1, ``TooLarge`` past the response limit.

The keep-alive race: an upstream may close an idle pooled connection just as a
request is written to it.  The request is sent again, once, on a new connection
only when that cannot make the upstream act twice (``Go``'s ``net/http`` rule):
nothing of it was written (the connection was seen closed first), or it carries
an ``Idempotency-Key`` and the connection closed with no byte of an answer.
"""

from __future__ import annotations

import asyncio
import select
import ssl
import zlib
from collections import deque
from collections.abc import Mapping
from typing import Literal
from urllib.parse import urlsplit

import httptools

__all__ = [
    "HIGH_WATER",
    "Client",
    "ConnectFailed",
    "ProtocolError",
    "Response",
    "Timeout",
    "TooLarge",
    "lean_url",
    "request_head",
]

#: body bytes queued unread before the socket's reads pause (stream back-pressure)
HIGH_WATER = 256 * 1024
#: an idle pooled connection older than this is checked for a close before reuse
_CHECK_AFTER = 1.0
_URL_CACHE_MAX = 1024
_DECODERS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}

#: headers the client writes itself; a caller's are dropped
_FRAMING = frozenset({"content-length", "transfer-encoding", "connection"})

Phase = Literal["connect", "first_byte", "total", "idle"]


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


class _Stale(ConnectionError):
    """A reused connection closed before any byte of the answer."""

    def __init__(self, written: bool) -> None:
        super().__init__("the upstream closed a kept-alive connection before answering")
        self.written = written


Origin = tuple[str, str, int]  # scheme, host, port


def lean_url(url: str) -> tuple[Origin, str, str] | None:
    """``(origin, host header, request target)`` of a URL this client serves, or None
    (another scheme, credentials in the URL: aiohttp's job)."""
    parts = urlsplit(url)
    scheme = parts.scheme
    if scheme not in ("http", "https") or parts.username is not None or not parts.hostname:
        return None
    host = parts.hostname
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        return None
    target = (parts.path or "/") + ("?" + parts.query if parts.query else "")
    if any(c in target for c in " \r\n\t"):
        return None
    name = f"[{host}]" if ":" in host else host
    default = 443 if scheme == "https" else 80
    host_header = name if port == default else f"{name}:{port}"
    return (scheme, host, port), host_header, target


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
        self._conn: _Conn | None = None
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


class _Conn(asyncio.Protocol):
    """One HTTP/1.1 connection; at most one request on it at a time."""

    def __init__(self, pool: Client, origin: Origin, loop: asyncio.AbstractEventLoop) -> None:
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
            self._close()
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
        self._cancel_timer()
        if self.parser.should_keep_alive() and not self.closed:
            self.pool._put(self)
        else:
            self._close()

    # -- the request ---------------------------------------------------------------------

    def send(self, head: bytes, body: bytes, resp: Response) -> None:
        self.resp = resp
        resp._conn = self
        self.got_bytes = False
        self.uses += 1
        transport = self.transport
        assert transport is not None
        if len(body) < 64 * 1024:
            transport.write(head + body)
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
        self.pool._forget(self)
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
            failure: BaseException = _Stale(written=True)
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
        self._close()
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
        self._close()

    def _close(self) -> None:
        if not self.closed:
            self.closed = True
            self.pool._forget(self)
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


class Client:
    """Keep-alive connections per origin, at most ``max_connections`` open in all."""

    def __init__(
        self,
        max_connections: int = 512,
        ssl_context: ssl.SSLContext | None = None,
        keepalive: float = 120.0,
    ) -> None:
        self._max = max_connections
        self._ssl = ssl_context
        self._keepalive = keepalive
        self._idle: dict[Origin, list[_Conn]] = {}
        self._open: set[_Conn] = set()
        self._connecting = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._urls: dict[str, tuple[Origin, str, str] | None] = {}
        self._closed = False
        #: connections opened (a figure for tests and benches)
        self.opened = 0

    def target(self, url: str) -> tuple[Origin, str, str] | None:
        """The parsed URL, memoised (a provider's URLs repeat)."""
        try:
            return self._urls[url]
        except KeyError:
            pass
        if len(self._urls) >= _URL_CACHE_MAX:
            self._urls.clear()
        parsed = self._urls[url] = lean_url(url)
        return parsed

    def _context(self) -> ssl.SSLContext:
        if self._ssl is None:
            ctx = ssl.create_default_context()  # verifies, as aiohttp's default does
            ctx.set_alpn_protocols(["http/1.1"])
            self._ssl = ctx
        return self._ssl

    async def request(
        self,
        origin: Origin,
        head: bytes,
        body: bytes,
        *,
        limit: int,
        connect: float | None,
        first_byte: float | None,
        total: float | None,
        idle: float | None,
        stream: bool,
        replayable: bool,
    ) -> Response:
        """Send one request and return its answer once the headers arrived."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        total_at = start + total if total is not None else 0.0
        head_at = start + first_byte if stream and first_byte is not None else 0.0
        fresh = False
        while True:
            deadline = min(total_at, head_at) if total_at and head_at else total_at or head_at
            conn = await self._acquire(origin, loop, connect, fresh, deadline)
            resp = Response(limit, reused=conn.uses > 0)
            conn.total_at = total_at
            conn.head_at = head_at
            conn.idle = idle or 0.0
            conn.send(head, body, resp)
            conn.arm()
            try:
                await resp.head()
            except _Stale as exc:
                if fresh or not (replayable or not exc.written):
                    raise ConnectionResetError(str(exc)) from None
                fresh = True  # once, on a new connection
                continue
            except BaseException:
                resp.release()
                raise
            return resp

    async def _acquire(
        self,
        origin: Origin,
        loop: asyncio.AbstractEventLoop,
        connect: float | None,
        fresh: bool,
        deadline: float,
    ) -> _Conn:
        while True:
            if self._closed:
                raise ConnectionError("the upstream client is closed")
            if not fresh:
                idle = self._idle.get(origin)
                if idle:
                    now = loop.time()
                    while idle:
                        conn = idle.pop()  # the most recent: least likely closed by now
                        if now - conn.idle_since > self._keepalive or conn.stale(now):
                            conn._close()
                            continue
                        return conn
            if len(self._open) + self._connecting < self._max:
                return await self._connect(origin, loop, connect, deadline)
            if self._close_one_idle():
                continue
            waiter = loop.create_future()
            self._waiters.append(waiter)
            try:
                async with asyncio.timeout_at(deadline or None):
                    await waiter
            except TimeoutError:
                raise Timeout("connect") from None
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)

    def _close_one_idle(self) -> bool:
        for conns in self._idle.values():
            if conns:
                conns.pop(0)._close()
                return True
        return False

    async def _connect(
        self,
        origin: Origin,
        loop: asyncio.AbstractEventLoop,
        connect: float | None,
        deadline: float,
    ) -> _Conn:
        scheme, host, port = origin
        conn = _Conn(self, origin, loop)
        at = loop.time() + connect if connect is not None else None
        if deadline and (at is None or deadline < at):
            at = deadline
        self._connecting += 1
        try:
            async with asyncio.timeout_at(at):
                if scheme == "https":
                    await loop.create_connection(
                        lambda: conn, host, port, ssl=self._context(), server_hostname=host
                    )
                else:
                    await loop.create_connection(lambda: conn, host, port)
        except TimeoutError:
            conn._close()
            raise Timeout("connect") from None
        except OSError as exc:
            conn._close()
            raise ConnectFailed(f"{host}:{port}: {exc}") from exc
        except BaseException:
            conn._close()
            raise
        finally:
            self._connecting -= 1
            self._wake_one()
        self.opened += 1
        self._open.add(conn)
        return conn

    def _put(self, conn: _Conn) -> None:
        if self._closed:
            conn._close()
            return
        conn.idle_since = conn.loop.time()
        self._idle.setdefault(conn.origin, []).append(conn)
        self._wake_one()

    def _forget(self, conn: _Conn) -> None:
        if conn in self._open:
            self._open.discard(conn)
            idle = self._idle.get(conn.origin)
            if idle and conn in idle:
                idle.remove(conn)
            self._wake_one()

    def _wake_one(self) -> None:
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    @property
    def open_connections(self) -> int:
        return len(self._open)

    async def aclose(self) -> None:
        self._closed = True
        for conn in list(self._open):
            conn._close()
        self._idle.clear()


def request_head(host_header: str, target: str, headers: Mapping[str, str], length: int) -> bytes:
    """A POST's request line and headers (``ValueError`` for a line break in a header)."""
    parts = [f"POST {target} HTTP/1.1\r\n"]
    host = True
    agent = True
    encoding = True
    for name, value in headers.items():
        if "\n" in value or "\r" in value or "\n" in name or "\r" in name or ":" in name:
            raise ValueError(f"invalid character in header {name!r}")
        low = name.lower()
        if low in _FRAMING:
            continue  # the client frames the message itself
        if low == "host":
            host = False
        elif low == "user-agent":
            agent = False
        elif low == "accept-encoding":
            encoding = False
        parts.append(f"{name}: {value}\r\n")
    if host:
        parts.append(f"host: {host_header}\r\n")
    if agent:
        parts.append("user-agent: lockgate\r\n")
    if encoding:
        # What aiohttp asked for (brotli is not installed): a compressed answer saves
        # bandwidth on large bodies (embeddings) and costs nothing when not sent.
        parts.append("accept-encoding: gzip, deflate\r\n")
    parts.append(f"content-length: {length}\r\n\r\n")
    return "".join(parts).encode("utf-8", "surrogateescape")
