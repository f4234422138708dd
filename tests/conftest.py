"""Fixtures shared by every test area: a real redis-server on a free loopback port."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator

import pytest


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class RedisServer:
    """A redis-server child process the tests own (and may stop and restart)."""

    def __init__(self, port: int, workdir: str) -> None:
        self.port = port
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None
        #: a restart keeps the port (clients reconnect to the same URL)
        self._started = False

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start redis-server and wait until this process (not another one that took the
        port first: other suites may run on the machine) answers on the port. A first
        start that lost its port to another process tries another port."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        first, self._started = not self._started, True
        for _ in range(5):
            self.proc = subprocess.Popen(
                [
                    binary,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    self.workdir,
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            if self._answers_as_own(time.monotonic() + 60):
                return
            self.stop()
            if not first:
                break
            self.port = free_port()
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def _answers_as_own(self, deadline: float) -> bool:
        """Whether the server on the port is this process (its --dir is ours)."""
        import redis

        own = os.path.realpath(self.workdir)
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                return False  # it exited: the port was taken
            client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1)
            try:
                served = client.config_get("dir").get("dir")
            except redis.RedisError:
                time.sleep(0.05)
                continue
            finally:
                client.close()
            return served is not None and os.path.realpath(served) == own
        return False

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One real redis-server for the whole session; tests flush what they use."""
    workdir = tempfile.mkdtemp(prefix="lockgate-redis-")
    server = RedisServer(free_port(), workdir)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture()
def redis_url(redis_server: RedisServer) -> str:
    """URL of the session's redis-server, flushed before each test."""
    import redis

    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    return redis_server.url


@pytest.fixture()
def own_redis() -> Iterator[RedisServer]:
    """A redis-server of this test's own, for tests that kill and restart it."""
    workdir = tempfile.mkdtemp(prefix="lockgate-redis-own-")
    server = RedisServer(free_port(), workdir)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


class PostgresServer:
    """A throwaway PostgreSQL cluster (initdb into a temp dir, loopback TCP, trust auth)."""

    BIN_DIRS = (
        "/usr/lib/postgresql/17/bin",
        "/usr/lib/postgresql/16/bin",
        "/usr/lib/postgresql/15/bin",
    )

    def __init__(self, port: int, workdir: str) -> None:
        self.port = port
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None
        self.bindir = next((d for d in self.BIN_DIRS if os.path.isdir(d)), None)
        if self.bindir is None:
            raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
        # initdb and postgres refuse to run as root; run them as the postgres user then.
        self.prefix: list[str] = []
        if os.geteuid() == 0:
            self.prefix = ["runuser", "-u", "postgres", "--"]
            shutil.chown(workdir, "postgres")

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        # generous: initdb at a low scheduling priority on a loaded 2-core box took > 60 s
        subprocess.run([*self.prefix, *args], check=True, capture_output=True, timeout=300)

    def start(self) -> None:
        data = os.path.join(self.workdir, "data")
        self._run(
            f"{self.bindir}/initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8"
        )
        self.resume(first=True)

    def resume(self, *, first: bool = False) -> None:
        """Start the server on the data directory ``start`` made (after a ``stop``), and
        wait until this server answers on its own socket directory (another suite's
        server may hold the port). A first start that lost its port tries another."""
        data = os.path.join(self.workdir, "data")
        for _ in range(5):
            self.proc = subprocess.Popen(
                [
                    *self.prefix,
                    f"{self.bindir}/postgres",
                    "-D",
                    data,
                    "-p",
                    str(self.port),
                    "-h",
                    "127.0.0.1",
                    "-k",
                    self.workdir,
                    "-c",
                    "fsync=off",
                    "-c",
                    "synchronous_commit=off",
                    "-c",
                    "full_page_writes=off",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            if self._ready(time.monotonic() + 120):
                return
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait(timeout=30)
            self.proc = None
            if not first:
                break
            self.port = free_port()
        raise RuntimeError(f"postgres did not start on port {self.port}")

    def _ready(self, deadline: float) -> bool:
        """Whether this server answers: its socket in our workdir, its process alive."""
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                return False  # it exited: the port was taken
            probe = subprocess.run(
                [f"{self.bindir}/pg_isready", "-h", self.workdir, "-p", str(self.port)],
                capture_output=True,
            )
            if probe.returncode == 0:
                return True
            time.sleep(0.1)
        return False

    def stop(self) -> None:
        if self.proc is not None:
            # Fast shutdown: a smart one (SIGTERM) waits for every client, e.g. a gateway's pool.
            data = os.path.join(self.workdir, "data")
            subprocess.run(
                [*self.prefix, f"{self.bindir}/pg_ctl", "-D", data, "-m", "fast", "-w", "stop"],
                capture_output=True,
                timeout=60,
            )
            self.proc.terminate()
            self.proc.wait(timeout=30)
            self.proc = None
            # runuser may return before postgres itself is gone; resume() needs it gone.
            pid_file = os.path.join(data, "postmaster.pid")
            deadline = time.monotonic() + 30
            while os.path.exists(pid_file) and time.monotonic() < deadline:
                time.sleep(0.05)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of one real PostgreSQL server for the whole session (tests clean what they use)."""
    workdir = tempfile.mkdtemp(prefix="lockgate-pg-")
    server = PostgresServer(free_port(), workdir)
    try:
        server.start()
        yield server.url
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
