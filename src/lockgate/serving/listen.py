"""The listening side of ``lockgate serve`` that needs no application: the bound socket,
the banner, the open-files limit and the one-line start-up error.

The ``--workers`` supervisor (:mod:`lockgate.serving.workers`) binds and supervises with
these alone; the application, its services and uvicorn are imported by the workers only.
"""

from __future__ import annotations

import logging
import resource
import socket
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lockgate.settings import Settings

__all__ = [
    "StartupError",
    "bind",
    "raise_nofile_limit",
    "refuse_open_mode_off_loopback",
    "startup_banner",
]

#: descriptors kept for upstream connections, Redis, the database and logs
_FD_RESERVE = 512


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


def refuse_open_mode_off_loopback(settings: Settings) -> None:
    """Open mode (no master key) listens on loopback only: a ConfigError otherwise."""
    from lockgate.preflight import is_loopback
    from lockgate.settings import ConfigError

    host = settings.server.host
    if settings.general_settings.master_key is None and not is_loopback(host):
        raise ConfigError(
            f"refusing to listen on {host} without a master key: open mode is for loopback only"
        )
