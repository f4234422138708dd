"""``lockgate serve --workers N``: N single-process gateways on one port.

The parent binds the port, then one ``SO_REUSEPORT`` socket per worker on the same
address (``reuseport_group``), starts N children (each a full ``lockgate serve`` with its
own lifespan, handed its socket's descriptor in ``LOCKGATE_LISTEN_FD``) and forwards
signals.  With a socket each, the kernel spreads new connections evenly over the workers
that listen (a hash of the connection's addresses); with one shared socket, whichever
worker woke first took most of a burst of connects and kept them (16-31 of 32 keep-alive
connections on one worker, docs/notes/2026-11-29-s8/rss2.md).  The parent keeps every
socket open, so a worker's socket outlives the worker: connections queued on it when
the worker died wait there for its replacement instead of being reset, and a worker
still starting (not yet listening) is given none.

* ``SIGTERM``/``SIGINT``: every worker drains as a single process does (/ready 503 for
  ``server.drain_seconds`` while still serving, listener closed, in-flight requests
  finished, writers flushed, exit 0); the parent exits 0 once all did, 1 otherwise.
* ``SIGHUP``: every worker re-reads the config file (lockgate.modelconfig.live).
* The parent killed outright (``SIGKILL``, a crash): each worker asked the kernel at its
  start for a ``SIGTERM`` when its parent dies (``PR_SET_PDEATHSIG``, Linux), so the
  orphans drain and exit and the port is free for the next start (they would otherwise
  keep it, in process groups of their own that a group kill misses).

A worker that dies while the parent is not stopping is replaced; one whose start-up
failed (uvicorn's exit code 3: the lifespan raised) or that dies within ``_QUICK_EXIT``
seconds of its start, three times in a row, stops the whole server (a broken config or
database fails the same way each time, however long a loaded machine takes to say so).
The parent imports only what binds and supervises (this module, :mod:`.listen`, the
settings and logging): the application, its services and uvicorn are the workers' (a
parent that imported the gateway held 66-78 MiB for nothing).

State shared across workers lives where it lives across replicas: keys, prompts and
stored models in the database; limits and the cache in Redis (with ``memory://`` each
worker counts on its own).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from types import FrameType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lockgate.settings import Settings

__all__ = [
    "LISTEN_FD_ENV",
    "hold_reload_signals",
    "inherited_socket",
    "reuseport_group",
    "serve_workers",
    "supervise",
    "tie_to_parent",
    "worker_argv",
]

LISTEN_FD_ENV = "LOCKGATE_LISTEN_FD"
#: the supervising parent's pid, so a worker whose parent died before it could ask for
#: the death signal notices
PARENT_PID_ENV = "LOCKGATE_PARENT_PID"
_PR_SET_PDEATHSIG = 1
_QUICK_EXIT = 5.0
_MAX_QUICK_EXITS = 3
#: uvicorn's exit code when the application's lifespan start-up failed
_STARTUP_FAILED = 3
log = logging.getLogger("lockgate.server")


def inherited_socket(env: dict[str, str] | os._Environ[str]) -> socket.socket | None:
    """The listening socket a ``--workers`` parent handed this process, if any."""
    fd = env.get(LISTEN_FD_ENV)
    return socket.socket(fileno=int(fd)) if fd else None


def hold_reload_signals() -> None:
    """Keep a SIGHUP from ending a process that is still starting (its default action).

    The server's own handler replaces this one once the loop runs; the config file is
    then compared with the one loaded (Lifecycle.started), so an edit signalled in
    between is applied, not lost.  A worker starts with SIGHUP blocked (``_Worker``): a
    signal sent before this point waits, pending, and is taken here.
    """
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGHUP})


def tie_to_parent(env: dict[str, str] | os._Environ[str]) -> bool:
    """In a ``--workers`` worker: have the kernel send this process ``SIGTERM`` when its
    parent dies (Linux ``prctl(PR_SET_PDEATHSIG)``; elsewhere nothing).  A parent already
    gone is answered by ``SIGTERM`` at once.  Whether the death signal is set.

    The signal is tied to the parent's thread that started the worker: ``supervise``
    starts every worker from the main thread, which lives as long as the parent.
    """
    parent = env.get(PARENT_PID_ENV)
    if not parent or not sys.platform.startswith("linux"):
        return False
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        log.warning("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
        return False
    if os.getppid() != int(parent):  # it died before the prctl: no signal will come
        os.kill(os.getpid(), signal.SIGTERM)
    return True


def reuseport_group(sock: socket.socket, workers: int) -> list[socket.socket]:
    """``workers`` sockets bound to ``sock``'s address with ``SO_REUSEPORT``, one per
    worker; ``sock`` (bound without it, so a port already in use was a clear error) is
    closed.  Where the platform has no ``SO_REUSEPORT``, every worker shares ``sock``."""
    if not hasattr(socket, "SO_REUSEPORT"):  # pragma: no cover - Linux and macOS have it
        return [sock] * workers
    addr = sock.getsockname()  # the port the OS picked when the configured one was 0
    family, kind, proto = sock.family, sock.type, sock.proto
    sock.close()
    group: list[socket.socket] = []
    try:
        for _ in range(workers):
            s = socket.socket(family, kind, proto)
            group.append(s)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            s.bind(addr)
            s.set_inheritable(True)
    except OSError:
        for s in group:
            s.close()
        raise
    return group


class _Worker:
    def __init__(self, argv: Sequence[str], sock: socket.socket) -> None:
        env = {**os.environ, LISTEN_FD_ENV: str(sock.fileno()), PARENT_PID_ENV: str(os.getpid())}
        self.started = time.monotonic()
        # SIGHUP blocked across the exec (the mask is inherited) until the worker can
        # take it (hold_reload_signals): its interpreter starting would die of one.
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})
        try:
            # Its own process group: a terminal's Ctrl-C reaches the parent only, which
            # forwards one SIGTERM (a second signal would cut a worker's drain short).
            self.proc = subprocess.Popen(
                list(argv), env=env, pass_fds=(sock.fileno(),), process_group=0
            )
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def supervise(argv: Sequence[str], socks: Sequence[socket.socket]) -> int:
    """Run a copy of ``argv`` on each of ``socks`` until stopped; the exit code.  A
    replacement worker takes over the socket of the one it replaces."""
    stopping = False
    pending: list[int] = []

    def on_signal(sig: int, frame: FrameType | None) -> None:
        pending.append(sig)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    pool = [_Worker(argv, sock) for sock in socks]
    quick_exits = 0
    while True:
        while pending:
            got = pending.pop(0)
            if got in (signal.SIGTERM, signal.SIGINT):
                stopping = True
            for w in pool:
                if w.proc.poll() is None:
                    w.proc.send_signal(signal.SIGTERM if got == signal.SIGINT else got)
        if stopping:
            break
        for i, w in enumerate(pool):
            code = w.proc.poll()
            if code is None:
                continue
            quick = code == _STARTUP_FAILED or time.monotonic() - w.started < _QUICK_EXIT
            quick_exits = quick_exits + 1 if quick else 0
            if quick_exits >= _MAX_QUICK_EXITS:
                log.error("workers keep exiting at start-up (last code %s): stopping", code)
                pending.append(signal.SIGTERM)
                break
            log.warning("worker %d exited with %s: starting a new one", w.proc.pid, code)
            pool[i] = _Worker(argv, socks[i])
        time.sleep(0.1)
    # The workers hold their own copies: these would keep the port accepting
    # connections nobody answers once they closed theirs.
    for sock in socks:
        sock.close()
    codes = [w.proc.wait() for w in pool]
    return 0 if quick_exits < _MAX_QUICK_EXITS and all(c == 0 for c in codes) else 1


def worker_argv(config_path: str | None) -> list[str]:
    """The command each worker runs (the embedded defaults when there is no file)."""
    argv = [sys.executable, "-m", "lockgate", "serve"]
    return [*argv, "-c", config_path] if config_path else argv


def serve_workers(
    settings: Settings,
    config_path: str | None,
    workers: int,
    *,
    before_start: Callable[[], object] | None = None,
) -> None:
    """Bind the port, start ``workers`` workers on it and supervise them until stopped;
    :class:`~lockgate.serving.listen.StartupError` when the port cannot be had or the
    workers ended badly.  ``before_start`` runs once the port is bound (the migration)."""
    import gc

    from lockgate.logs import configure_logging
    from lockgate.serving.listen import (
        StartupError,
        bind,
        raise_nofile_limit,
        refuse_open_mode_off_loopback,
        startup_banner,
    )

    s = settings.server
    refuse_open_mode_off_loopback(settings)
    sock = bind(s.host, s.port)
    configure_logging(s.log_level, logs=settings.logs)
    if s.http.raise_nofile_limit:
        raise_nofile_limit(s.http.max_connections)  # the workers inherit the limit
    if before_start is not None:
        before_start()
    gc.enable()  # `lockgate serve` starts with the cyclic GC off (serve_cli.serve)
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
