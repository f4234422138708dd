"""Serve a lockgate app with a real uvicorn server on 127.0.0.1, in a thread."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn

from lockgate.app import create_app
from lockgate.server import PROTOCOL
from lockgate.settings import Settings


@dataclass
class LiveGateway:
    url: str
    settings: Settings
    #: the event loop serving it (to stall it from a test)
    loop: asyncio.AbstractEventLoop | None = None
    #: the uvicorn server (its connections' protocols, for white-box checks)
    server: uvicorn.Server | None = None

    @property
    def v1(self) -> str:
        return self.url + "/v1"


@contextmanager
def serve_in_thread(settings: Settings, loop: str = "asyncio") -> Iterator[LiveGateway]:
    """Run the gateway until the block exits; bounded start-up and shutdown waits.

    ``loop="uvloop"`` runs it on the event loop ``lockgate serve`` uses.
    """
    config = uvicorn.Config(
        create_app(settings),
        host="127.0.0.1",
        port=0,
        loop=loop,  # type: ignore[arg-type]
        http=PROTOCOL,
        timeout_keep_alive=settings.server.http.keep_alive_timeout,  # type: ignore[arg-type]
        access_log=False,
        log_level="warning",
        lifespan="on",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    # Start-up loads models (the semantic cache's embedder) and can take well over 20 s on
    # a loaded machine; the wait ends at once when the server is up or its thread died.
    deadline = time.monotonic() + 120
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("gateway did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield LiveGateway(
            url=f"http://127.0.0.1:{port}",
            settings=settings,
            loop=server.servers[0].get_loop(),
            server=server,
        )
    finally:
        server.should_exit = True
        thread.join(timeout=120)  # a loaded box drains and closes slowly


def spawn_serve(config: Path, port: int, log: Path, *extra: str) -> subprocess.Popen[bytes]:
    """`lockgate serve -c config --port port [extra...]` as a child process, output
    appended to ``log``."""
    argv = [sys.executable, "-m", "lockgate", "serve", "-c", str(config), "--port", str(port)]
    with log.open("ab") as out:  # the child keeps its own descriptor
        return subprocess.Popen(
            [*argv, *extra],
            stdout=out,
            stderr=subprocess.STDOUT,
            # faulthandler: a SIGABRT (wait_exit's, on a hang) writes every thread's stack
            env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONFAULTHANDLER": "1"},
        )


def wait_exit(proc: subprocess.Popen[bytes], log: Path, timeout: float = 40) -> int:
    """``proc``'s exit code. Still running after ``timeout`` s: its threads' stacks go to
    ``log`` (SIGABRT; spawn_serve turns faulthandler on), it is reaped, and the assertion
    shows the end of that log, so a hang in shutdown says where it hung."""
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    tail = log.read_text(errors="replace")[-8000:] if log.exists() else "(no log)"
    raise AssertionError(f"still running {timeout} s after it was asked to stop; log:\n{tail}")


@contextmanager
def stopped_on_exit(proc: subprocess.Popen[bytes]) -> Iterator[subprocess.Popen[bytes]]:
    """``proc``, killed and reaped on the way out if still running (a failed test's)."""
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def wait_ok(
    url: str,
    path: str = "/ready",
    timeout: float = 120,
    proc: subprocess.Popen[bytes] | None = None,
    log: Path | None = None,
) -> None:
    """Poll ``url + path`` until it answers 200 (bounded by ``timeout`` seconds).

    With ``proc``, fail at once when the process exits; with ``log``, a failure shows its tail.
    """
    deadline = time.monotonic() + timeout

    def tail() -> str:
        return log.read_text(errors="replace")[-3000:] if log and log.exists() else ""

    while True:
        try:
            if httpx.get(url + path, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert proc is None or proc.poll() is None, f"{url} exited:\n{tail()}"
        assert time.monotonic() < deadline, f"{url}{path} did not answer 200\n{tail()}"
        time.sleep(0.05)
