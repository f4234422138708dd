"""Which connections are open, which are idle, and who goes when the cap is reached.

Pure bookkeeping (no sockets): the protocol tells the guard when a connection opens,
starts a request, finishes one and closes; the guard answers whether a newcomer may
stay and which idle connection to shed for it.  A flood of idle or slow sockets then
costs its own sockets, not the active clients': a newcomer evicts the oldest connection
that has no request in flight (first those that never completed a request, then idle
keep-alive ones), and only when every connection is busy is it refused.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from lockgate.serving.config import HttpLimits

__all__ = ["ConnectionGuard", "Evictable", "LogThrottle"]

log = logging.getLogger("lockgate.server")


class Evictable(Protocol):
    def evict(self) -> None:
        """Close this connection now (it has no request in flight)."""


class LogThrottle:
    """Let one line through per ``interval`` seconds; count the ones held back."""

    def __init__(self, interval: float, clock: Callable[[], float]) -> None:
        self._interval = interval
        self._clock = clock
        self._next = float("-inf")
        self.suppressed = 0

    def ready(self) -> int | None:
        """The number suppressed since the last line, or ``None`` if this one must wait."""
        now = self._clock()
        if now < self._next:
            self.suppressed += 1
            return None
        self._next = now + self._interval
        held, self.suppressed = self.suppressed, 0
        return held


class ConnectionGuard:
    """Open and idle connections of one server process."""

    def __init__(
        self,
        limits: HttpLimits,
        clock: Callable[[], float],
        on_reject: Callable[[str], None] | None = None,
    ) -> None:
        self.limits = limits
        self._clock = clock
        self._open: set[Evictable] = set()
        #: no request in flight, oldest first (dicts keep order): connections that never
        #: completed a request go first, served keep-alive connections after them
        self._fresh: dict[Evictable, None] = {}
        self._idle: dict[Evictable, None] = {}
        self._throttles: dict[str, LogThrottle] = {}
        self._on_reject = on_reject

    @property
    def open(self) -> int:
        return len(self._open)

    @property
    def idle(self) -> int:
        return len(self._fresh) + len(self._idle)

    def admit(self, conn: Evictable) -> bool:
        """A connection opened: ``False`` if it must be refused (every slot busy)."""
        if len(self._open) >= self.limits.max_connections:
            pool = self._fresh or self._idle
            if not pool:
                self.rejected("connection_limit")
                return False
            oldest = next(iter(pool))
            self.closed(oldest)
            oldest.evict()
            self.rejected("evicted_idle")
        self._open.add(conn)
        self._fresh[conn] = None
        return True

    def busy(self, conn: Evictable) -> None:
        """A request's head is complete: the connection is no longer evictable."""
        self._fresh.pop(conn, None)
        self._idle.pop(conn, None)

    def idle_again(self, conn: Evictable) -> None:
        """The response is complete: the connection waits for its next request."""
        if conn in self._open:
            self._idle[conn] = None

    def closed(self, conn: Evictable) -> None:
        """The connection is gone (safe to call twice)."""
        self._open.discard(conn)
        self._fresh.pop(conn, None)
        self._idle.pop(conn, None)

    def rejected(self, reason: str) -> None:
        """Count a refused or cut-off client; log each reason at most once per 10 s."""
        if self._on_reject is not None:
            self._on_reject(reason)
        throttle = self._throttles.get(reason)
        if throttle is None:
            throttle = self._throttles[reason] = LogThrottle(10.0, self._clock)
        held = throttle.ready()
        if held is not None:
            log.warning(
                "connection protection: %s (open=%d, max_connections=%d, %d more since last line)",
                reason,
                len(self._open),
                self.limits.max_connections,
                held,
            )
