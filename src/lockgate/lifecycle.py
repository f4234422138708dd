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
    #: a SIGHUP came while a reload was running (it may have read the file before the edit)
    _again: bool = False

    def request_reload(self) -> None:
        """SIGHUP: re-read the config file in the background.

        While the gateway starts there is nothing to reload yet: ``started`` compares the
        file on disk with the one loaded, so a signal sent then is not lost.  While a
        reload runs, one more follows it (the file may have changed after it was read).
        """
        if self.reload is None:
            _log.warning("SIGHUP while starting: the config file is compared once started")
        elif self._reloads:
            self._again = True
        else:
            self._run(self.reload)

    async def started(
        self, reload: Callable[[], Awaitable[bool]], catch_up: Callable[[], Awaitable[bool]]
    ) -> None:
        """The lifespan has built the gateway: SIGHUP reloads from now on, and ``catch_up``
        (re-read the file if it changed since it was loaded) runs before serving."""
        self.reload = reload
        await self._run(catch_up)

    def _run(self, reload: Callable[[], Awaitable[bool]]) -> asyncio.Future[bool]:
        task = asyncio.ensure_future(reload())
        self._reloads.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Future[bool]) -> None:
        self._reloads.discard(task)
        if self._again and self.reload is not None and not self._reloads:
            self._again = False
            self._run(self.reload)

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
            self._loop.remove_signal_handler(signal.SIGHUP)  # back to SIG_DFL: end the process
            signal.signal(signal.SIGHUP, signal.SIG_IGN)  # not while it is shutting down

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
