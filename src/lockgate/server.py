"""Run the gateway under uvicorn (uvloop + httptools, access lines from lockgate's own sink).

The port is bound before anything else starts, so a taken port is one clear error;
"listening on" is printed only once the port is bound and the lifespan (database,
caches, models) has started; a failed start is one line and a hint, not a traceback.
"""

from __future__ import annotations

import gc
import logging
import os
import resource
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
#: descriptors kept for upstream connections, Redis, the database and logs
_FD_RESERVE = 512
_UVICORN_STARTUP_FAILED = "Application startup failed. Exiting."
_UVICORN_NO_WEBSOCKETS = "No supported WebSocket library detected."


class StartupError(Exception):
    """The gateway could not start; ``render`` is what the operator reads."""

    def __init__(self, message: str, hint: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.exit_code = exit_code

    def render(self) -> str:
        return f"error: {self.message}\n  hint: {self.hint}"


def startup_banner(settings: Settings) -> str:
    s = settings.server
    scheme = "https" if s.ssl_certfile else "http"
    lines = [f"lockgate listening on {scheme}://{s.host}:{s.port}"]
    aliases = sorted({e.model_name for e in settings.model_list})
    lines.append(f"  models: {', '.join(aliases) or '(none)'}")
    from lockgate.preflight import redact_url

    lines.append(f"  database: {redact_url(settings.general_settings.database_url)}")
    for warning in settings.warnings:
        lines.append(f"  warning: {warning}")
    if settings.general_settings.master_key is None:
        lines.append(
            "  WARNING: no master key configured: open local mode, any API key is accepted"
            " and the gateway listens on loopback only. Set general_settings.master_key"
            " (or LOCKGATE_MASTER_KEY) to require keys."
        )
    return "\n".join(lines)


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


def bind(host: str, port: int) -> socket.socket:
    """A listening-ready socket on ``host:port``; a taken port is a StartupError."""
    try:
        family, kind, proto, _, addr = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise StartupError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}",
            "check server.host (an address of this machine, e.g. 127.0.0.1 or 0.0.0.0)",
        ) from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
    except OSError as exc:
        sock.close()
        if exc.errno in (98, 48):  # EADDRINUSE on Linux, macOS
            raise StartupError(
                f"port {port} on {host} is already in use",
                "stop the other process, or pick another port with --port or server.port",
            ) from None
        raise StartupError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}",
            "ports below 1024 need privileges; check server.host and server.port",
        ) from None
    sock.set_inheritable(True)
    return sock


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


def raise_nofile_limit(wanted: int) -> int:
    """Raise the soft open-files limit to the hard one; returns the soft limit now in force.

    Each client connection is a file descriptor; past the limit ``accept()`` fails and
    clients see empty replies with nothing logged.  The connection cap (``max_connections``)
    is meant to bind first, so warn when the limit leaves it no room.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    if soft < wanted + _FD_RESERVE:
        logging.getLogger("lockgate.server").warning(
            "open-files limit %d leaves too little room for server.http.max_connections=%d"
            " (plus %d for upstreams, databases and logs); lower max_connections or raise"
            " the limit (ulimit -n)",
            soft,
            wanted,
            _FD_RESERVE,
        )
    return soft


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
    s = settings.server
    if settings.general_settings.master_key is None and not is_loopback(s.host):
        raise ConfigError(
            f"refusing to listen on {s.host} without a master key: open mode is for loopback only"
        )
    from lockgate.serving.workers import inherited_socket

    inherited = inherited_socket(os.environ)  # a `--workers` parent's listener
    sock = inherited if inherited is not None else bind(s.host, s.port)
    configure_logging(s.log_level, logs=settings.logs)
    if s.http.raise_nofile_limit:
        raise_nofile_limit(s.http.max_connections)
    if before_start is not None:
        before_start()
    if workers > 1:
        gc.enable()
        from lockgate.serving.workers import reuseport_group, supervise, worker_argv

        try:
            socks = reuseport_group(sock, workers)
        except OSError as exc:  # the port was taken between the two binds
            raise StartupError(
                f"cannot listen on {s.host}:{s.port} with {workers} workers: {exc.strerror or exc}",
                "stop the other process, or pick another port with --port or server.port",
            ) from None
        print(f"{startup_banner(settings)}\n  workers: {workers}", file=sys.stderr, flush=True)
        try:
            code = supervise(worker_argv(config_path), socks)
        finally:
            for each in socks:
                each.close()
        if code:
            raise StartupError("", "", exit_code=code)
        return
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
