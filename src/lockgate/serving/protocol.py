"""uvicorn's httptools protocol with the timeouts and limits a public listener needs.

uvicorn (httptools + uvloop) stays the server: it is the fastest of the stacks measured
for this gateway (notes in README "Limits and defaults"), and its protocol class is a
documented extension point (``uvicorn.run(http=...)``).  What it lacks is added here,
per connection, with one timer (re-armed lazily, below):

* a deadline for the request head (from connection open, or from the first byte of a
  later request): slow or silent clients are cut off (408, or a silent close when not a
  byte arrived);
* a deadline for the body once the head is complete (408; the app sees a disconnect);
* the keep-alive idle timeout (uvicorn's own, set from config);
* a cap on open connections (``ConnectionGuard``): the oldest idle connection is shed
  for a newcomer, and when every connection has a request in flight the newcomer gets
  503 with ``Retry-After``;
* limits on the size and the number of request headers (431), checked while the head
  is still arriving so an 8 MB header is refused after ``max_header_bytes``.

And one saving: uvicorn writes a response's head and its body with two ``send`` calls;
the head now waits for the body written in the same pass of the loop and both go out
in one (``_HeadWithBody``), a head alone (a stream waiting for its first event) on the
loop's next pass.
"""

from __future__ import annotations

import asyncio
from asyncio import TimerHandle
from collections.abc import Callable
from typing import Any

import orjson
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import (
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)
from uvicorn.server import ServerState

from lockgate.api.common import Endpoint
from lockgate.serving.config import HttpLimits
from lockgate.serving.fastlane import (
    FAST_LANE_STATE_KEY,
    FastExchange,
    FastLane,
    proxy_headers,
)
from lockgate.serving.guard import ConnectionGuard

__all__ = ["GUARD_STATE_KEY", "GuardedHttpProtocol"]

#: where the lifespan state carries the process's ``ConnectionGuard``
GUARD_STATE_KEY = "connection_guard"
_DEFAULTS = HttpLimits()
#: seconds a refused connection is drained before it is closed
_LINGER = 2.0


def _error(status: int, message: str, code: str, retry_after: int | None) -> bytes:
    body = orjson.dumps(
        {
            "error": {
                "message": message,
                "type": "api_error" if status >= 500 else "invalid_request_error",
                "code": code,
                "param": None,
            }
        }
    )
    head = [
        STATUS_LINE[status],
        b"content-type: application/json\r\n",
        b"content-length: %d\r\n" % len(body),
        b"connection: close\r\n",
    ]
    if retry_after is not None:
        head.append(b"retry-after: %d\r\n" % retry_after)
    head.append(b"\r\n")
    return b"".join(head) + body


class _HeadWithBody:
    """A request cycle's view of the socket: its first write (the response head) is held
    until the next write (the body, or its first part) so both leave in one system call;
    a head still held when the loop comes round is written alone."""

    __slots__ = ("_held", "_loop", "_passing", "transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self.transport = transport
        self._loop = loop
        self._held: bytes | None = None
        self._passing = False

    def write(self, data: bytes) -> None:
        if self._passing:
            self.transport.write(data)
            return
        held = self._held
        if held is None:
            self._held = data
            self._loop.call_soon(self._flush)
            return
        self._held = None
        self._passing = True
        self.transport.writelines((held, data))

    def _flush(self) -> None:
        self._passing = True
        held, self._held = self._held, None
        if held is not None and not self.transport.is_closing():
            self.transport.write(held)

    def is_closing(self) -> bool:
        return self.transport.is_closing()

    def close(self) -> None:
        self._flush()
        self.transport.close()


class GuardedHttpProtocol(HttpToolsProtocol):
    """One HTTP/1.1 connection, bounded in time and size."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        guard = app_state.get(GUARD_STATE_KEY)
        self._guard = guard if isinstance(guard, ConnectionGuard) else None
        limits = self._guard.limits if self._guard is not None else _DEFAULTS
        self._limits = limits
        self.timeout_keep_alive = limits.keep_alive_timeout  # type: ignore[assignment]
        #: the head or body deadline in force (loop time) and what to do past it; None:
        #: no deadline.  One timer serves them: it is armed for the earliest deadline
        #: set and, when it fires before the one now in force (a later request's),
        #: re-armed for that, so a request on a kept-alive connection usually arms none
        self._due = 0.0
        self._on_due: Callable[[], None] | None = None
        self._timer: TimerHandle | None = None
        self._timer_at = 0.0
        self._linger: TimerHandle | None = None
        self._in_head = True
        self._head_bytes = 0  # raw bytes while the head is still arriving
        self._head_size = 0  # parsed: request target + header lines
        self._head_started = False
        self._headers = 0
        self._oversized = False
        self._finished = False
        lane = app_state.get(FAST_LANE_STATE_KEY)
        self._lane = lane if isinstance(lane, FastLane) else None
        self._fast_routes = lane.routes if isinstance(lane, FastLane) else None
        self._proxy = proxy_headers(config) if self._fast_routes is not None else None
        #: the latest hot-route request (told when the connection is lost)
        self._exchange: FastExchange | None = None

    # -- connection ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if self._guard is not None and not self._guard.admit(self):
            self._refuse(503, "Too many open connections; retry shortly.", "connection_limit", 1)
            return
        self._arm(self._limits.header_timeout, self._head_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        self._drop_timer()
        if self._linger is not None:
            self._linger.cancel()
        if self._guard is not None:
            self._guard.closed(self)
        super().connection_lost(exc)
        if self._exchange is not None:
            self._exchange.client_gone()

    def evict(self) -> None:
        """Shed this idle connection for a newcomer (called by the guard)."""
        self._finished = True
        self._drop_timer()
        self._unset_keepalive_if_required()
        if not self.transport.is_closing():
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self._finished:
            return
        super().data_received(data)
        if self._in_head and not self._finished:
            self._head_bytes += len(data)
            if self._head_bytes > self._limits.max_header_bytes:
                self._refuse(
                    431,
                    f"Request headers too large: at most {self._limits.max_header_bytes} bytes.",
                    "request_header_fields_too_large",
                    None,
                )

    # -- parser callbacks ------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_started = True
        self._head_bytes = 0
        self._head_size = 0
        self._headers = 0
        self._oversized = False
        if self._on_due is None:
            self._arm(self._limits.header_timeout, self._head_timed_out)

    def on_url(self, url: bytes) -> None:
        self._head_size += len(url)
        if self._head_size > self._limits.max_header_bytes:
            self._oversized = True
            return
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers += 1
        self._head_size += len(name) + len(value) + 4
        if (
            self._oversized
            or self._headers > self._limits.max_headers
            or self._head_size > self._limits.max_header_bytes
        ):
            self._oversized = True  # stop collecting; refused once the head is parsed
            return
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._disarm()
        if self._finished:
            return
        if self._oversized:
            self._refuse(
                431,
                f"Request headers too large: at most {self._limits.max_headers} headers"
                f" and {self._limits.max_header_bytes} bytes.",
                "request_header_fields_too_large",
                None,
            )
            return
        self._in_head = False
        self._head_started = False
        if self._guard is not None:
            self._guard.busy(self)
        self._arm(self._limits.body_timeout, self._body_timed_out)
        super().on_headers_complete()
        cycle = self.cycle
        if (
            cycle is not None
            and not cycle.waiting_for_100_continue
            and self._fast_endpoint(cycle.scope) is None
        ):
            # Before the cycle's task first runs (it was only created): no write yet.
            # ("100 Continue" is written before the head and must not wait.)
            cycle.transport = _HeadWithBody(self.transport, self.loop)  # type: ignore[assignment]

    def _fast_endpoint(self, scope: Any) -> Endpoint | None:
        """The hot route's endpoint the protocol serves itself (serving/fastlane.py)."""
        routes = self._fast_routes
        if routes is None or scope["method"] != "POST":
            return None
        return routes.get(scope["path"])

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        # Called for a request whose head is complete, and for a pipelined one once the
        # response before it is complete.
        endpoint = self._fast_endpoint(cycle.scope) if app is self.app else None
        if endpoint is None:
            super()._start_asgi_task(cycle, app)
            return
        exchange = self._exchange = FastExchange(
            cycle, endpoint, self.transport, self._proxy, self._lane
        )
        task = exchange.task = self.loop.create_task(exchange.run())
        task.add_done_callback(self.tasks.discard)
        self.tasks.add(task)

    def on_body(self, body: bytes) -> None:
        if not self._finished:
            super().on_body(body)

    def on_message_complete(self) -> None:
        self._disarm()
        if not self._finished:
            super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._guard is not None and not self.transport.is_closing():
            self._guard.idle_again(self)

    # -- deadlines and refusals --------------------------------------------------------

    def _arm(self, delay: float, callback: Callable[[], None]) -> None:
        due = self.loop.time() + delay
        self._due, self._on_due = due, callback
        timer = self._timer
        if timer is None or self._timer_at > due:
            if timer is not None:
                timer.cancel()
            self._timer = self.loop.call_at(due, self._fire)
            self._timer_at = due

    def _disarm(self) -> None:
        """No deadline in force (the timer, if armed, fires and finds nothing to do)."""
        self._on_due = None

    def _drop_timer(self) -> None:
        self._on_due = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _fire(self) -> None:
        self._timer = None
        callback = self._on_due
        if callback is None:
            return
        if self.loop.time() < self._due:  # the deadline in force moved on: wait for it
            self._timer = self.loop.call_at(self._due, self._fire)
            self._timer_at = self._due
            return
        self._on_due = None
        callback()

    def _head_timed_out(self) -> None:
        if not self._head_started:
            # Not a byte of a request: an idle socket, closed without a word.
            self._finished = True
            if self._guard is not None:
                self._guard.rejected("idle_timeout")
            self.transport.close()
            return
        self._refuse(408, "Timed out reading the request headers.", "header_timeout", None)

    def _body_timed_out(self) -> None:
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            # The app is waiting in receive(): let it see a disconnect.
            cycle.disconnected = True
            cycle.message_event.set()
        if cycle is not None and cycle.response_started:
            # An answer already went out (or is going out): no second one, just close.
            self._send_queued()
            self._finished = True
            if self._guard is not None:
                self._guard.rejected("body_timeout")
            self.transport.close()
            return
        self._refuse(408, "Timed out reading the request body.", "body_timeout", None)

    def _send_queued(self) -> None:
        """An answer of the fast lane waiting for the loop's pass to end goes out now,
        before anything else is written on this connection."""
        if self._exchange is not None:
            self._exchange.send_queued()

    def _refuse(self, status: int, message: str, code: str, retry_after: int | None) -> None:
        """Answer ``status`` straight on the socket and close it."""
        self._finished = True
        self._drop_timer()
        if self._guard is not None and code != "connection_limit":
            self._guard.rejected(code)
        transport = self.transport
        if transport.is_closing():
            return
        self._send_queued()
        transport.write(_error(status, message, code, retry_after))
        if code != "connection_limit" and transport.can_write_eof():
            # Lingering close: a client still sending (an 8 MB header) would get a reset
            # and lose the answer if the socket closed now.  Half-close, discard what
            # still arrives (``_finished``), and close for good after a short wait.  A
            # newcomer refused at the cap sent nothing yet: closed at once, no fd held.
            transport.write_eof()
            self._linger = self.loop.call_later(_LINGER, transport.close)
        else:
            transport.close()
