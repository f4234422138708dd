"""Key revocation reaches every replica and the CLI's changes reach running gateways.

Real gateway processes share one database (and, in one case, one Redis).  The key cache
TTL is an hour, so without propagation a revoked key would keep working on the other
replicas for that hour; with it, they refuse the key shortly after the change.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml
from tests.conftest import free_port
from tests.live_server import spawn_serve, wait_ok
from tests.support import MASTER, bearer

MOCK = [{"model_name": "mock", "params": {"model": "mock/mock-1"}}]
CHAT = {"model": "mock", "messages": [{"role": "user", "content": "hello"}]}
DEADLINE = 15.0  # generous: the claim (under a second) is measured in bench/, not here


def write_config(tmp_path: Path, redis_url: str | None) -> Path:
    general: dict[str, Any] = {
        "master_key": MASTER,
        "database_url": f"sqlite+aiosqlite:///{tmp_path}/shared.db",
        "key_cache_ttl_seconds": 3600,
    }
    if redis_url:
        general["redis_url"] = redis_url
    path = tmp_path / "replica.yaml"
    path.write_text(yaml.safe_dump({"model_list": MOCK, "general_settings": general}))
    return path


@contextmanager
def replicas(config: Path, count: int) -> Iterator[list[str]]:
    """``count`` gateway processes on one config; their base URLs."""
    procs, urls = [], []
    logs = [config.parent / f"replica-{i}.log" for i in range(count)]
    try:
        for log in logs:  # started together: they race to migrate the shared database
            port = free_port()
            procs.append(spawn_serve(config, port, log))
            urls.append(f"http://127.0.0.1:{port}")
        for url, log, proc in zip(urls, logs, procs, strict=True):
            # generous: start-up time is measured in bench/
            wait_ok(url, "/health", timeout=90, proc=proc, log=log)
        yield urls
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=20)


def chat_status(url: str, key: str) -> int:
    r = httpx.post(url + "/v1/chat/completions", json=CHAT, headers=bearer(key), timeout=10)
    return r.status_code


def refused_everywhere(urls: list[str], key: str) -> bool:
    """Poll until every replica refuses ``key`` (401); False if the deadline passes."""
    deadline = time.monotonic() + DEADLINE
    pending = set(urls)
    while pending and time.monotonic() < deadline:
        pending = {u for u in pending if chat_status(u, key) != 401}
        time.sleep(0.05)
    return not pending


def create_key(url: str) -> tuple[str, str]:
    r = httpx.post(url + "/admin/keys", json={"name": "tenant"}, headers=bearer(), timeout=10)
    assert r.status_code == 201, r.text
    return r.json()["key"], r.json()["id"]


def cli(config: Path, action: str, key_id: str) -> None:
    cmd = [sys.executable, "-m", "lockgate", "keys", action, key_id, "-c", str(config)]
    done = subprocess.run(cmd, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_revocation_reaches_other_replicas_through_redis(tmp_path, redis_url):
    """Three replicas on one DB + Redis: a revocation on one and a CLI rotation reach all."""
    config = write_config(tmp_path, redis_url)
    with replicas(config, 3) as urls:
        key, key_id = create_key(urls[0])
        rotated, rotated_id = create_key(urls[1])
        for k in (key, rotated):
            assert [chat_status(u, k) for u in urls] == [200, 200, 200]  # cached everywhere
        r = httpx.delete(urls[0] + f"/admin/keys/{key_id}", headers=bearer(), timeout=10)
        assert r.status_code == 200
        assert refused_everywhere(urls, key)
        cli(config, "rotate", rotated_id)
        assert refused_everywhere(urls, rotated)


def test_revocation_reaches_other_replicas_without_redis(tmp_path):
    """With only the shared database, the change counter carries API and CLI revocations."""
    config = write_config(tmp_path, None)
    with replicas(config, 2) as urls:
        key, key_id = create_key(urls[0])
        other, other_id = create_key(urls[0])
        for k in (key, other):
            assert [chat_status(u, k) for u in urls] == [200, 200]
        r = httpx.delete(urls[0] + f"/admin/keys/{key_id}", headers=bearer(), timeout=10)
        assert r.status_code == 200
        assert refused_everywhere(urls, key)
        cli(config, "revoke", other_id)  # `lockgate keys revoke` against the running replicas
        assert refused_everywhere(urls, other)
