"""`lockgate serve --workers 2` with a listening socket per worker (SO_REUSEPORT): a burst
of keep-alive connections lands on both workers, and requests sent on connections that
each worker holds (found the way `ss -tnp` finds them, from /proc) show that keys, limits
(in Redis) and revocations are shared by the workers while breakers are per process."""

from __future__ import annotations

import http.client
import json
import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from tests.conftest import free_port
from tests.e2e.conftest import model_list
from tests.fakes import Fault, ThreadedFake
from tests.live_server import spawn_serve, stopped_on_exit, wait_ok
from tests.support import MASTER, bearer

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
_ESTABLISHED = "01"


def _children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _socket_inodes(pid: int) -> set[int]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def holders(port: int, workers: list[int]) -> dict[int, int]:
    """Client port -> the worker holding the server side of that connection to ``port``."""
    owner = {inode: pid for pid in workers for inode in _socket_inodes(pid)}
    held: dict[int, int] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not Path(table).exists():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, remote, state, inode = fields[1], fields[2], fields[3], int(fields[9])
            listening_port = int(local.rsplit(":", 1)[1], 16)
            if state == _ESTABLISHED and listening_port == port and inode in owner:
                held[int(remote.rsplit(":", 1)[1], 16)] = owner[inode]
    return held


class Conn:
    """One keep-alive connection to the gateway, and the worker that holds it."""

    def __init__(self, port: int, timeout: float = 30) -> None:
        self.http = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        self.http.connect()
        assert self.http.sock is not None
        self.client_port: int = self.http.sock.getsockname()[1]
        self.worker = 0

    def call(
        self, method: str, path: str, body: object = None, key: str = MASTER
    ) -> tuple[int, dict[str, object]]:
        data = json.dumps(body).encode() if body is not None else None
        headers = {**bearer(key), "content-type": "application/json"}
        self.http.request(method, path, body=data, headers=headers)
        r = self.http.getresponse()
        raw = r.read()
        return r.status, json.loads(raw) if raw else {}


@contextmanager
def two_workers(tmp: Path, fake: ThreadedFake, redis_url: str) -> Iterator[tuple[int, int]]:
    """`lockgate serve --workers 2` on Redis limits; (port, parent pid) once both serve."""
    config = tmp / "gw.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "model_list": model_list(fake),
                "general_settings": {
                    "master_key": MASTER,
                    "database_url": f"sqlite+aiosqlite:///{tmp}/gw.db",
                    "redis_url": redis_url,
                    "key_sync_seconds": 0.2,
                },
                "limits": {"timeout_ms": 3000},
                "router_settings": {
                    "num_retries": 0,
                    "breaker": {"consecutive_failures": 3, "open_seconds": 120, "min_calls": 100},
                },
            }
        )
    )
    port = free_port()
    log = tmp / "gw.log"
    with stopped_on_exit(spawn_serve(config, port, log, "--workers", "2")) as proc:
        wait_ok(f"http://127.0.0.1:{port}", timeout=90, proc=proc, log=log)
        # a worker still starting listens on nothing yet: wait until both do
        deadline = time.monotonic() + 90
        while log.read_text().count("Application startup complete") < 2:
            assert time.monotonic() < deadline, "the second worker did not finish starting"
            time.sleep(0.05)
        yield port, proc.pid
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0


def open_connections(port: int, workers: list[int], count: int, timeout: float = 30) -> list[Conn]:
    """``count`` keep-alive connections opened together, each with one answered request
    (so a worker has accepted it), labelled with the worker that holds it."""
    conns = [Conn(port, timeout) for _ in range(count)]
    for c in conns:  # every request sent before any answer is read, as a load generator does
        c.http.request("GET", "/health")
    for c in conns:
        r = c.http.getresponse()
        r.read()
        assert r.status == 200
    held = holders(port, workers)
    for c in conns:
        c.worker = held[c.client_port]
    return conns


Gateway = tuple[int, int, list[int], dict[int, list[Conn]]]


@pytest.fixture()
def gateway(tmp_path: Path, fake: ThreadedFake, redis_url: str) -> Iterator[Gateway]:
    """(port, parent pid, worker pids, the connections each worker holds)."""
    with two_workers(tmp_path, fake, redis_url) as (port, parent):
        workers = _children(parent)
        assert len(workers) == 2
        conns = open_connections(port, workers, 64)
        by_worker = {pid: [c for c in conns if c.worker == pid] for pid in workers}
        yield port, parent, workers, by_worker
        for c in conns:
            c.http.close()


def test_a_burst_of_connections_reaches_both_workers(gateway: Gateway) -> None:
    """64 keep-alive connections opened at once: each worker holds at least 12 of them
    (the kernel hashes each connection to one worker's socket; a fair split puts fewer
    than 12 on one worker with a chance of about 1 in 10^6)."""
    _, _, workers, by_worker = gateway
    counts = sorted(len(by_worker[w]) for w in workers)
    assert sum(counts) == 64
    assert counts[0] >= 12, counts


def test_keys_limits_and_revocation_are_shared_breakers_are_per_worker(
    gateway: Gateway, fake: ThreadedFake
) -> None:
    """A key made through worker A works on worker B; its limit of 4 requests an hour is
    counted once for both (3 on A, then 1 of 3 on B); revoked through B, it is refused on
    A; with the upstream failing, each worker opens its own breaker after its own 3
    failures: 5 requests on each reach the upstream exactly 3 + 3 times."""
    _, _, workers, by_worker = gateway
    a, b = by_worker[workers[0]][0], by_worker[workers[1]][0]
    assert a.worker != b.worker

    limited = {"name": "shared", "limits": {"requests": "4/hour"}}
    status, made = a.call("POST", "/admin/keys", limited)
    assert status == 201, made
    key = str(made["key"])
    on_a = [a.call("POST", "/v1/chat/completions", CHAT, key)[0] for _ in range(3)]
    on_b = [b.call("POST", "/v1/chat/completions", CHAT, key)[0] for _ in range(3)]
    assert on_a == [200, 200, 200]
    assert on_b == [200, 429, 429]  # with a count per worker B would answer 200 three times

    status, _ = b.call("DELETE", f"/admin/keys/{made['id']}")
    assert status == 200
    deadline = time.monotonic() + 30  # A learns of it through the key change feed
    refused = 0
    while time.monotonic() < deadline:
        refused = a.call("POST", "/v1/chat/completions", CHAT, key)[0]
        if refused == 401:
            break
        time.sleep(0.1)
    assert refused == 401

    fake.push_fault(Fault.error(500), times=None)
    for conn in (a, b):
        before = fake.counts["/v1/chat/completions"]
        codes = [conn.call("POST", "/v1/chat/completions", CHAT)[0] for _ in range(5)]
        assert all(code >= 500 for code in codes), codes
        assert fake.counts["/v1/chat/completions"] - before == 3


def test_a_dead_workers_socket_waits_for_its_replacement(gateway: Gateway) -> None:
    """A worker killed by SIGKILL is replaced on its own socket: connections the kernel
    hashes to that socket meanwhile wait for the new worker instead of being reset (or
    going to the survivor), so all 32 fresh connections opened right after the kill are
    answered, and the replacement holds some of them."""
    port, parent, workers, _ = gateway
    os.kill(workers[0], signal.SIGKILL)
    deadline = time.monotonic() + 30
    while workers[0] in _children(parent) or len(_children(parent)) < 2:
        assert time.monotonic() < deadline, "the dead worker was not replaced"
        time.sleep(0.02)
    (replacement,) = set(_children(parent)) - {workers[1]}
    # the replacement's start-up can take a minute on a loaded machine
    conns = open_connections(port, [workers[1], replacement], 32, timeout=120)
    try:
        assert sum(c.worker == replacement for c in conns) >= 1
    finally:
        for c in conns:
            c.http.close()
