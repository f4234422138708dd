"""Graceful shutdown: drain first, then stop.

On the first SIGTERM (or SIGINT) the gateway keeps serving but reports not ready
(``/ready`` answers 503 ``draining``), so load balancers and Kubernetes endpoints take it
out of rotation; after ``server.drain_seconds`` it stops accepting connections, lets the
requests and streams in flight finish (up to ``server.shutdown_timeout_seconds``), flushes
the usage and audit writers in the lifespan's shutdown, and exits 0. A second signal
during the drain stops at once (uvicorn's own handling).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import FrameType

import uvicorn

__all__ = ["DrainingServer", "Lifecycle"]

_log = logging.getLogger("lockgate.server")


@dataclass(slots=True)
class Lifecycle:
    """The process's serving state, shared by the server and ``/ready``."""

    draining: bool = False
    drain_started: float | None = field(default=None)
    #: the config file the process serves (SIGHUP re-reads it)
    config_path: str | None = None
    #: set by the app's lifespan: re-read the config file (lockgate.modelconfig.live)
    reload: Callable[[], Awaitable[bool]] | None = None
    _reloads: set[asyncio.Task[bool]] = field(default_factory=set)

    def request_reload(self) -> None:
        """SIGHUP: re-read the config file in the background (one at a time is enough)."""
        if self.reload is None or self._reloads:
            if self.reload is None:
                _log.warning("SIGHUP ignored: the gateway is still starting")
            return
        task = asyncio.ensure_future(self.reload())
        self._reloads.add(task)
        task.add_done_callback(self._reloads.discard)

    def begin_drain(self, now: float) -> None:
        self.draining = True
        self.drain_started = now


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, lifecycle: Lifecycle, drain_seconds: float) -> None:
        super().__init__(config)
        self.lifecycle = lifecycle
        self.drain_seconds = drain_seconds
        self._loop: asyncio.AbstractEventLoop | None = None

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        # SIGHUP re-reads the config file (its default action would end the process).
        self._loop.add_signal_handler(signal.SIGHUP, self.lifecycle.request_reload)
        try:
            await super().serve(sockets)
        finally:
            self._loop.remove_signal_handler(signal.SIGHUP)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if (
            self.lifecycle.draining
            or self._loop is None
            or sig
            not in (
                signal.SIGTERM,
                signal.SIGINT,
            )
        ):
            super().handle_exit(sig, frame)
            return
        self.lifecycle.begin_drain(time.time())
        _log.warning(
            "received %s: draining (/ready is 503) for %.1f s, then closing the listener",
            signal.Signals(sig).name,
            self.drain_seconds,
        )
        self._loop.call_soon_threadsafe(self._loop.call_later, self.drain_seconds, self._stop)

    def _stop(self) -> None:
        # Not through handle_exit: no signal is re-raised afterwards, so the exit code is 0.
        self.should_exit = True
