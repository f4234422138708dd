"""Run the gateway under uvicorn (uvloop + httptools, access lines from lockgate's own sink).

The port is bound before anything else starts, so a taken port is one clear error;
"listening on" is printed only once the port is bound and the lifespan (database,
caches, models) has started; a failed start is one line and a hint, not a traceback.
"""

from __future__ import annotations

import gc
import logging
import os
import socket
import sys
from collections.abc import Callable
from typing import Any

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lockgate.app import create_app
from lockgate.lifecycle import DrainingServer, Lifecycle
from lockgate.logs import configure_logging
from lockgate.preflight import is_loopback
from lockgate.serving import heap
from lockgate.serving.listen import (
    StartupError,
    bind,
    raise_nofile_limit,
    refuse_open_mode_off_loopback,
    startup_banner,
)
from lockgate.settings import ConfigError, Settings

__all__ = [
    "StartupError",
    "is_loopback",
    "raise_nofile_limit",
    "serve",
    "startup_banner",
    "uvicorn_options",
]

PROTOCOL = "lockgate.serving.protocol:GuardedHttpProtocol"
_UVICORN_STARTUP_FAILED = "Application startup failed. Exiting."
_UVICORN_NO_WEBSOCKETS = "No supported WebSocket library detected."


def describe_failure(exc: BaseException | None, database_url: str = "") -> StartupError:
    """One line and a hint for an exception raised while the gateway started."""
    if isinstance(exc, ConfigError):
        return StartupError(
            f"cannot start: {exc}", "`lockgate check-config` runs these checks without starting"
        )
    text = str(exc).strip().splitlines()[0] if exc is not None and str(exc).strip() else ""
    name = type(exc).__name__ if exc is not None else "unknown error"
    module = type(exc).__module__ if exc is not None else ""
    if module.startswith(("sqlalchemy", "asyncpg", "sqlite3", "redis")) or isinstance(exc, OSError):
        from lockgate.preflight import redact_url

        hint = (
            f"is the database ({redact_url(database_url)}) or Redis down or unreachable?"
            " `lockgate check-config --connect` tests each connection"
        )
    else:
        hint = "run with server.log_level: debug for the full traceback"
    return StartupError(f"cannot start: {name}: {text}" if text else f"cannot start: {name}", hint)


class _ReportStartupFailure:
    """Replaces Starlette's traceback on a failed lifespan start with one line and a hint."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self._verbose = settings.server.log_level == "debug"
        self._database_url = settings.general_settings.database_url

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def report(message: Message) -> None:
            if message["type"] == "lifespan.startup.failed" and not self._verbose:
                failure = describe_failure(sys.exc_info()[1], self._database_url)
                print(failure.render(), file=sys.stderr, flush=True)
                message = {"type": message["type"], "message": ""}
            await send(message)

        await self.app(scope, receive, report)


class _Server(DrainingServer):
    """Prints the banner once the port is bound and the lifespan has started."""

    banner = ""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        gc.enable()  # `lockgate serve` starts with the cyclic GC off (cli.serve)
        heap.trim()  # start-up's garbage is collected (the lifespan's gc.collect)
        if self.banner:
            print(self.banner, file=sys.stderr, flush=True)


def _quiet_uvicorn_failure(record: logging.LogRecord) -> bool:
    # uvicorn's "pip install websockets" advice follows every upgrade request when
    # WebSockets are off (``ws: none``); its "Unsupported upgrade request." line stays
    return record.getMessage() != _UVICORN_STARTUP_FAILED and not record.getMessage().startswith(
        _UVICORN_NO_WEBSOCKETS
    )


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's options for ``settings`` (the socket is bound apart): uvloop, the guarded
    httptools protocol (serving/protocol.py) and its keep-alive timeout."""
    s = settings.server
    return {
        "loop": "uvloop",
        "http": PROTOCOL,
        # lockgate has no WebSocket route: an upgrade request is answered as plain HTTP
        # (a 404), and the websockets package (~2 MB resident) is never imported
        "ws": "none",
        "timeout_keep_alive": s.http.keep_alive_timeout,
        "access_log": False,
        "log_level": s.log_level,
        "ssl_certfile": s.ssl_certfile,
        "ssl_keyfile": s.ssl_keyfile,
        "timeout_graceful_shutdown": int(s.shutdown_timeout_seconds),
    }


def serve(
    settings: Settings,
    config_path: str | None = None,
    workers: int = 1,
    *,
    before_start: Callable[[], object] | None = None,
) -> None:
    """Run until stopped; raises StartupError when the gateway cannot start.

    ``before_start`` runs once the port is bound and the modules are loaded, before any
    worker or lifespan starts (``lockgate serve`` waits there for its child migration).
    """
    if workers > 1:
        from lockgate.serving.workers import serve_workers

        serve_workers(settings, config_path, workers, before_start=before_start)
        return
    s = settings.server
    refuse_open_mode_off_loopback(settings)
    from lockgate.serving.workers import inherited_socket

    inherited = inherited_socket(os.environ)  # a `--workers` parent's listener
    sock = inherited if inherited is not None else bind(s.host, s.port)
    configure_logging(s.log_level, logs=settings.logs)
    if s.http.raise_nofile_limit:
        raise_nofile_limit(s.http.max_connections)
    if before_start is not None:
        before_start()
    heap.limit_arenas()  # before the lifespan starts threads (serving/heap.py)
    lifecycle = Lifecycle(config_path=config_path)
    app = create_app(settings, lifecycle=lifecycle)
    config = uvicorn.Config(_ReportStartupFailure(app, settings), **uvicorn_options(settings))
    logging.getLogger("uvicorn.error").addFilter(_quiet_uvicorn_failure)
    try:
        server = _Server(config, lifecycle, s.drain_seconds)
        # Workers of `--workers N` stay quiet: their parent printed the banner.
        server.banner = "" if inherited is not None else startup_banner(settings)
        server.run(sockets=[sock])
    except SystemExit as exc:
        # uvicorn exits 3 when the lifespan failed; the reason is already printed.
        raise StartupError("", "", exit_code=exc.code if isinstance(exc.code, int) else 1) from None
    finally:
        sock.close()
