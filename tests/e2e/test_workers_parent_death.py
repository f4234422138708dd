"""`lockgate serve --workers 2` whose parent is SIGKILLed: the workers end with it.

Before, the orphans kept serving and kept the port (a restart failed with "port in
use"), in process groups of their own that a group kill misses.  Each worker now asks
the kernel for a SIGTERM when its parent dies, drains and exits, and the port can be
bound again.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import time
from pathlib import Path

import yaml
from tests.conftest import free_port
from tests.live_server import spawn_serve, wait_ok
from tests.support import MASTER

#: generous on a loaded box: drain_seconds (1 s) plus the lifespan's shutdown
_BOUND = 60.0


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


def _port_free(port: int) -> bool:
    """Whether a new gateway could listen on ``port`` (bound as server.bind does: with
    SO_REUSEADDR, so closed connections' TIME_WAIT does not count; without SO_REUSEPORT,
    so any listener still there refuses it)."""
    s = socket.socket()
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen()
    except OSError:
        return False
    finally:
        s.close()
    return True


def test_workers_end_and_free_the_port_when_the_parent_is_killed(tmp_path: Path) -> None:
    config = tmp_path / "gw.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "model_list": [{"model_name": "mock", "params": {"model": "mock/mock-1"}}],
                "general_settings": {
                    "master_key": MASTER,
                    "database_url": f"sqlite+aiosqlite:///{tmp_path}/gw.db",
                },
                "server": {"drain_seconds": 1.0},
            }
        )
    )
    port = free_port()
    proc = spawn_serve(config, port, tmp_path / "gw.log", "--workers", "2")
    workers: list[int] = []
    conns: list[http.client.HTTPConnection] = []
    try:
        wait_ok(f"http://127.0.0.1:{port}", timeout=120, proc=proc, log=tmp_path / "gw.log")
        workers = [
            int(p) for p in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        ]
        assert len(workers) == 2
        # Both workers started (a worker still importing would die of the SIGTERM at once,
        # without the drain this test also checks).
        log_path = tmp_path / "gw.log"
        started = time.monotonic() + 120
        while log_path.read_text().count("Application startup complete") < 2:
            assert time.monotonic() < started, "the second worker did not finish starting"
            time.sleep(0.05)
        for _ in range(4):  # idle keep-alive connections must not hold a worker up
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("GET", "/ready")
            assert conn.getresponse().read()
            conns.append(conn)
        assert not _port_free(port)

        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        deadline = time.monotonic() + _BOUND
        while time.monotonic() < deadline and (
            any(_alive(w) for w in workers) or not _port_free(port)
        ):
            time.sleep(0.1)
        log = (tmp_path / "gw.log").read_text()
        assert not [w for w in workers if _alive(w)], log
        assert _port_free(port), log
        assert log.count("received SIGTERM: draining") == 2, log
    finally:
        for conn in conns:
            conn.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for w in workers:  # the old code's orphans: never leave them running
            if _alive(w):
                os.kill(w, signal.SIGKILL)
