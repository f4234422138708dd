"""Graceful shutdown and rolling restarts, with real processes: SIGTERM drains (ready 503,
still serving), closes the listener, finishes what is in flight, flushes the writers and
exits 0; three replicas behind HAProxy restart one by one under load with no failed request."""

from __future__ import annotations

import csv
import shutil
import signal
import socket
import sqlite3
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from tests.conftest import free_port
from tests.e2e.conftest import model_list
from tests.fakes import Fault, ThreadedFake
from tests.live_server import spawn_serve, wait_ok
from tests.support import MASTER, bearer

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def write_config(tmp: Path, fake: ThreadedFake, name: str, **server: Any) -> Path:
    path = tmp / f"{name}.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "model_list": model_list(fake),
                "general_settings": {
                    "master_key": MASTER,
                    "database_url": f"sqlite+aiosqlite:///{tmp}/{name}.db",
                },
                "server": server,
            }
        )
    )
    return path


def test_sigterm_drains_then_exits_zero(tmp_path: Path, fake: ThreadedFake) -> None:
    """During the drain /ready is 503 and new requests are still answered; a request
    in flight at SIGTERM completes; then the listener closes, the usage rows are all
    written, and the process exits 0."""
    config = write_config(tmp_path, fake, "gw", drain_seconds=1.5)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = spawn_serve(config, port, tmp_path / "gw.log")
    try:
        wait_ok(url)
        fake.push_fault(Fault.slow_headers(2.5))
        slow: dict[str, int] = {}

        def in_flight() -> None:
            r = httpx.post(url + "/v1/chat/completions", json=CHAT, headers=bearer(), timeout=30)
            slow["status"] = r.status_code

        t = threading.Thread(target=in_flight)
        t.start()
        time.sleep(0.3)  # the slow request is at the upstream now
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        assert httpx.get(url + "/ready", timeout=2).json()["status"] == "draining"
        assert httpx.get(url + "/health", timeout=2).status_code == 200
        during = httpx.post(url + "/v1/chat/completions", json=CHAT, headers=bearer(), timeout=10)
        assert during.status_code == 200
        time.sleep(1.6)  # drain over: the listener is closed, the slow request still runs
        with pytest.raises(httpx.ConnectError):
            httpx.get(url + "/health", timeout=1)
        t.join(timeout=20)
        assert slow["status"] == 200
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    rows = sqlite3.connect(tmp_path / "gw.db").execute("SELECT count(*) FROM usage_records")
    assert rows.fetchone()[0] == 2


HAPROXY_CONF = """
global
  maxconn 2000
  stats socket {sock} mode 600 level admin
defaults
  mode http
  timeout connect 2s
  timeout client 30s
  timeout server 30s
  retries 2
  option redispatch
  retry-on conn-failure empty-response
frontend gateway
  bind 127.0.0.1:{port}
  default_backend replicas
backend replicas
  balance roundrobin
  # Readiness: a draining replica answers 503 here and leaves the rotation.
  option httpchk GET /ready
  timeout check 2s
  default-server inter 250ms fall 2 rise 2
{servers}
"""


def haproxy_states(sock: Path) -> dict[str, str]:
    """Each server's state as the balancer sees it (``UP``, ``DOWN``, ``UP 1/2``, ...),
    read from HAProxy's stats socket."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect(str(sock))
        s.sendall(b"show stat\n")
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    rows = list(csv.reader(b"".join(chunks).decode().lstrip("# ").splitlines()))
    head = rows[0]
    name, kind, status = head.index("svname"), head.index("type"), head.index("status")
    return {r[name]: r[status] for r in rows[1:] if len(r) > status and r[kind] == "2"}


def wait_in_rotation(sock: Path, server: str, timeout: float = 60) -> None:
    """Until the balancer has ``server`` back in rotation (bounded). A rolling restart moves
    on only then, as Kubernetes waits for readiness: a fixed pause raced the health checks
    on a loaded box (every other server out of rotation at once: 503s from HAProxy)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if haproxy_states(sock).get(server) == "UP":
            return
        time.sleep(0.1)
    raise AssertionError(f"{server} not back in rotation after {timeout} s: {haproxy_states(sock)}")


def test_rolling_restart_behind_haproxy_fails_no_request(
    tmp_path: Path, fake: ThreadedFake
) -> None:
    """Three replicas behind HAProxy (health-checking /ready), a steady load of chat
    requests, each replica SIGTERMed, waited for and restarted in turn: every request
    answers 200."""
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    assert Path(haproxy).exists(), "haproxy is required (apt-get install haproxy)"
    ports = [free_port() for _ in range(3)]
    configs = [write_config(tmp_path, fake, f"r{i}", drain_seconds=2.0) for i in range(3)]
    procs = [
        spawn_serve(c, p, tmp_path / f"r{i}.log")
        for i, (c, p) in enumerate(zip(configs, ports, strict=True))
    ]
    lb_port = free_port()
    conf = tmp_path / "haproxy.cfg"
    sock = tmp_path / "haproxy.sock"
    conf.write_text(
        HAPROXY_CONF.format(
            sock=sock,
            port=lb_port,
            servers="\n".join(f"  server r{i} 127.0.0.1:{p} check" for i, p in enumerate(ports)),
        )
    )
    lb = subprocess.Popen(
        [haproxy, "-f", str(conf), "-db"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    statuses: Counter[int | str] = Counter()
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{lb_port}", headers=bearer()) as c:
            while not stop.is_set():
                try:
                    statuses[c.post("/v1/chat/completions", json=CHAT, timeout=20).status_code] += 1
                except httpx.HTTPError as exc:
                    statuses[type(exc).__name__] += 1
                time.sleep(0.005)

    try:
        for i, (p, proc) in enumerate(zip(ports, procs, strict=True)):
            # three started together on a loaded box: generous, start-up time is measured in bench/
            wait_ok(f"http://127.0.0.1:{p}", timeout=90, proc=proc, log=tmp_path / f"r{i}.log")
        wait_ok(f"http://127.0.0.1:{lb_port}")
        workers = [threading.Thread(target=load) for _ in range(4)]
        for w in workers:
            w.start()
        time.sleep(1.0)
        for i, port in enumerate(ports):
            procs[i].send_signal(signal.SIGTERM)
            assert procs[i].wait(timeout=40) == 0
            procs[i] = spawn_serve(configs[i], port, tmp_path / f"r{i}.log")
            wait_ok(
                f"http://127.0.0.1:{port}", timeout=90, proc=procs[i], log=tmp_path / f"r{i}.log"
            )
            wait_in_rotation(sock, f"r{i}")
        stop.set()
        for w in workers:
            w.join(timeout=30)
    finally:
        stop.set()
        lb.terminate()
        lb.wait(timeout=10)
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            p.wait(timeout=40)
    total = sum(statuses.values())
    print(f"\nrolling restart: {dict(statuses)} of {total} requests")
    assert total > 100
    assert statuses == Counter({200: total})
