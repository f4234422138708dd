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
request is written to it.  A pooled connection seen closed (or, idle for over a
second, readable: a close or stray bytes) is never written to.  A request whose
reused connection then closes with no byte of an answer is sent again, once, on
a new connection only if it carries an ``Idempotency-Key`` (``Go``'s ``net/http``
rule): the upstream may have acted on it, and only a key lets it tell the second
send from a new request.  Otherwise the connection error goes up to the retry
layer, which decides as it does for any other.

Requests are written in batches: a request started while the loop runs other ready
callbacks is written when they have run (one ``call_soon`` per pass, at most
``_BATCH`` requests per batch), together with the others started in the same pass.
Each request's own work before its write (parsing, the stages, building the body:
~0.1 ms) would otherwise space the writes out so that an upstream on the same host
sleeps and wakes once per request; written together, it reads several per wake-up
(session 11: nginx 0.84-0.89 wake-ups per request from lockgate, 0.33-0.50 from the
bare proxy, whose writes came ~29 µs apart against lockgate's ~100 µs).  The delay a
request takes is the rest of that pass (at most ``_BATCH - 1`` other requests' work);
a request body of 64 KiB or more is written at once.

Idle connections: a pooled connection unused for ``keepalive`` seconds is closed, by
the next request that reaches it or else by the pool's one sweep timer (armed when a
connection is pooled and none is armed; it closes what expired and re-arms for the
next expiry, at most once a second), so sockets to an upstream the gateway stopped
using are released, as aiohttp's ``keepalive_timeout`` does.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import Mapping
from urllib.parse import urlsplit

from lockgate.providers.http1_connection import (
    HIGH_WATER,
    ConnectFailed,
    Connection,
    Origin,
    ProtocolError,
    Response,
    Stale,
    Timeout,
    TooLarge,
)

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

_URL_CACHE_MAX = 1024
#: the idle sweep runs at most this often (a connection lives at most keepalive + this)
_SWEEP_EVERY = 1.0
#: requests written together at most (a batch full before the pass ends goes at once)
_BATCH = 8
#: headers the client writes itself; a caller's are dropped
_FRAMING = frozenset({"content-length", "transfer-encoding", "connection"})


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
        self._idle: dict[Origin, list[Connection]] = {}
        self._open: set[Connection] = set()
        self._connecting = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._urls: dict[str, tuple[Origin, str, str] | None] = {}
        self._closed = False
        #: the one timer closing connections idle past ``keepalive`` (None: not armed)
        self._sweep: asyncio.TimerHandle | None = None
        #: requests waiting for the end of the loop's pass (``write_soon``)
        self._out: list[tuple[Connection, bytes]] = []
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
            except Stale as exc:
                if fresh or not replayable:
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
    ) -> Connection:
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
                            conn.close()
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
                conns.pop(0).close()
                return True
        return False

    async def _connect(
        self,
        origin: Origin,
        loop: asyncio.AbstractEventLoop,
        connect: float | None,
        deadline: float,
    ) -> Connection:
        scheme, host, port = origin
        conn = Connection(self, origin, loop)
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
            conn.close()
            raise Timeout("connect") from None
        except OSError as exc:
            conn.close()
            raise ConnectFailed(f"{host}:{port}: {exc}") from exc
        except BaseException:
            conn.close()
            raise
        finally:
            self._connecting -= 1
            self._wake_one()
        self.opened += 1
        self._open.add(conn)
        return conn

    def put(self, conn: Connection) -> None:
        if self._closed:
            conn.close()
            return
        conn.idle_since = conn.loop.time()
        self._idle.setdefault(conn.origin, []).append(conn)
        if self._sweep is None:
            loop = conn.loop
            self._sweep = loop.call_at(conn.idle_since + self._keepalive, self._sweep_idle, loop)
        self._wake_one()

    def _sweep_idle(self, loop: asyncio.AbstractEventLoop) -> None:
        """Close the connections idle past ``keepalive``; re-arm for the next expiry.

        Each origin's idle list is oldest first (``put`` appends, ``_acquire`` takes the
        newest), so only expired connections and one more per origin are looked at.
        """
        self._sweep = None
        if self._closed:
            return
        now = loop.time()
        cut = now - self._keepalive
        expired: list[Connection] = []
        next_at = 0.0
        for conns in self._idle.values():
            for conn in conns:
                if conn.idle_since > cut:
                    at = conn.idle_since + self._keepalive
                    next_at = at if not next_at or at < next_at else next_at
                    break
                expired.append(conn)
        for conn in expired:
            conn.close()  # forget() takes it out of its idle list
        if next_at:
            self._sweep = loop.call_at(max(next_at, now + _SWEEP_EVERY), self._sweep_idle, loop)

    def write_soon(self, conn: Connection, data: bytes) -> None:
        out = self._out
        if not out:
            conn.loop.call_soon(self._write_out, out)
        out.append((conn, data))
        if len(out) >= _BATCH:
            self._out = []  # the scheduled call writes this full batch; a new one starts
            self._write_out(out)

    def _write_out(self, out: list[tuple[Connection, bytes]]) -> None:
        """Write every queued request whose connection is still open (a closed one has
        failed its answer already: ``Connection._lost``)."""
        if out is self._out:
            self._out = []
        batch = out[:]
        out.clear()
        for conn, data in batch:
            transport = conn.transport
            if not conn.closed and transport is not None and not transport.is_closing():
                transport.write(data)

    def forget(self, conn: Connection) -> None:
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
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        for conn in list(self._open):
            conn.close()
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
