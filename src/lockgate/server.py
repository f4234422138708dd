"""Run the gateway under uvicorn (uvloop + httptools, no access log on the hot path)."""

from __future__ import annotations

import ipaddress
import logging
import os
import resource
import sys
from typing import Any

import uvicorn

from lockgate.app import create_app
from lockgate.lifecycle import DrainingServer, Lifecycle
from lockgate.logs import configure_logging
from lockgate.settings import ConfigError, Settings, load_settings

__all__ = [
    "app_from_env",
    "is_loopback",
    "raise_nofile_limit",
    "serve",
    "startup_banner",
    "uvicorn_options",
]

CONFIG_ENV = "LOCKGATE_CONFIG"
PROTOCOL = "lockgate.serving.protocol:GuardedHttpProtocol"
#: descriptors kept for upstream connections, Redis, the database and logs
_FD_RESERVE = 512


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def startup_banner(settings: Settings) -> str:
    s = settings.server
    scheme = "https" if s.ssl_certfile else "http"
    lines = [f"lockgate listening on {scheme}://{s.host}:{s.port}"]
    aliases = sorted({e.model_name for e in settings.model_list})
    lines.append(f"  models: {', '.join(aliases) or '(none)'}")
    lines.append(f"  database: {settings.general_settings.database_url}")
    if settings.general_settings.master_key is None:
        lines.append(
            "  WARNING: no master key configured: open local mode, any API key is accepted"
            " and the gateway listens on loopback only. Set general_settings.master_key"
            " (or LOCKGATE_MASTER_KEY) to require keys."
        )
    return "\n".join(lines)


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's options for ``settings``: uvloop, the guarded httptools protocol, limits."""
    s = settings.server
    return {
        "host": s.host,
        "port": s.port,
        "loop": "uvloop",
        "http": PROTOCOL,
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


def app_from_env() -> object:
    """uvicorn factory for multi-worker runs: each worker loads the config itself."""
    settings = load_settings(os.environ.get(CONFIG_ENV) or None)
    configure_logging(settings.server.log_level)
    return create_app(settings)


def serve(settings: Settings, config_path: str | None = None, workers: int = 1) -> None:
    s = settings.server
    if settings.general_settings.master_key is None and not is_loopback(s.host):
        raise ConfigError(
            f"refusing to listen on {s.host} without a master key: open mode is for loopback only"
        )
    print(startup_banner(settings), file=sys.stderr, flush=True)
    configure_logging(s.log_level)
    if s.http.raise_nofile_limit:
        raise_nofile_limit(s.http.max_connections)
    common = uvicorn_options(settings)
    if workers > 1:
        if config_path:
            os.environ[CONFIG_ENV] = config_path
        uvicorn.run("lockgate.server:app_from_env", factory=True, workers=workers, **common)
    else:
        lifecycle = Lifecycle()
        config = uvicorn.Config(create_app(settings, lifecycle=lifecycle), **common)
        DrainingServer(config, lifecycle, s.drain_seconds).run()
