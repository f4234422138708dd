"""`lockgate audit export|prune --url`: the audit log through a running gateway's admin API.

The gateway runs in this process on 127.0.0.1 (real uvicorn, real SQLite); the CLI runs as a
subprocess with no database of its own, so everything it prints came over HTTP.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.live_server import LiveGateway, serve_in_thread
from tests.opex.support import cli, write
from tests.support import MASTER, bearer

from lockgate.settings import settings_from_mapping

AUDIT_KEY = "5f" * 32
HI = [{"role": "user", "content": "the secret word is tangerine"}]


def _settings(tmp: Path, *, store_bodies: bool = True) -> dict:
    return {
        "model_list": [{"model_name": "mock", "params": {"model": "mock/mock-1"}}],
        "general_settings": {"master_key": MASTER, "database_url": f"sqlite:///{tmp}/gw.db"},
        "audit": {"store_bodies": store_bodies},
    }


@pytest.fixture
def gateway(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveGateway]:
    """A gateway storing encrypted bodies, with three answered requests in its audit log."""
    monkeypatch.setenv("LOCKGATE_AUDIT_KEY", AUDIT_KEY)
    with serve_in_thread(settings_from_mapping(_settings(tmp_path))) as gw:
        for i in range(3):
            r = httpx.post(
                gw.v1 + "/chat/completions",
                json={"model": "mock", "messages": HI},
                headers={**bearer(), "x-request-id": f"remote-{i}"},
                timeout=30,
            )
            assert r.status_code == 200
        yield gw


def test_export_through_the_gateway_decrypts_with_the_gateways_key(gateway, tmp_path):
    """The CLI holds no key and no database: the bodies come back decrypted by the gateway."""
    out = tmp_path / "audit.jsonl"
    r = cli("audit", "export", "--url", gateway.url, "-o", str(out), cwd=tmp_path, env=_master())
    assert r.returncode == 0, r.stderr
    assert "exported 3 records" in r.stderr and "database:" not in r.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [row["record"]["client_request_id"] for row in rows] == [f"remote-{i}" for i in range(3)]
    assert all("tangerine" in json.dumps(row["request_body"]) for row in rows)
    # The same log read from the database directly gives the same lines.
    config = write(tmp_path / "direct.yaml", json.dumps(_settings(tmp_path)))
    direct = cli(
        "audit", "export", "-c", str(config), cwd=tmp_path, env={"LOCKGATE_AUDIT_KEY": AUDIT_KEY}
    )
    assert direct.returncode == 0, direct.stderr
    assert direct.stdout == out.read_text()


def test_export_without_bodies_and_since(gateway, tmp_path):
    """`--no-bodies` drops the body columns; `--since` after the last write exports nothing."""
    r = cli("audit", "export", "--no-bodies", "--url", gateway.url, cwd=tmp_path, env=_master())
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(rows) == 3 and all("request_body" not in row for row in rows)
    later = str(max(row["created_at"] for row in rows) + 1)
    r = cli("audit", "export", "--since", later, "--url", gateway.url, cwd=tmp_path, env=_master())
    assert r.returncode == 0 and r.stdout == "" and "exported 0 records" in r.stderr


def test_export_bad_query_is_a_400(gateway):
    r = httpx.get(gateway.url + "/admin/audit/export?since=yesterday", headers=bearer(), timeout=10)
    assert r.status_code == 400
    assert r.json()["error"]["param"] == "since"
    r = httpx.get(gateway.url + "/admin/audit/export?bodies=maybe", headers=bearer(), timeout=10)
    assert r.status_code == 400 and r.json()["error"]["param"] == "bodies"


def test_export_and_prune_need_the_master_key(gateway, tmp_path):
    made = httpx.post(
        gateway.url + "/admin/keys", json={"name": "app"}, headers=bearer(), timeout=10
    )
    assert made.status_code == 201, made.text
    app_key = made.json()["key"]
    for method, path in (("GET", "/admin/audit/export"), ("POST", "/admin/audit/prune")):
        r = httpx.request(method, gateway.url + path, headers=bearer(app_key), timeout=10)
        assert r.status_code == 403, (path, r.text)
    r = cli("audit", "prune", "--url", gateway.url, "--key", app_key, cwd=tmp_path)
    assert r.returncode == 1 and "HTTP 403" in r.stderr


def test_prune_through_the_gateway_keeps_the_log_verifiable(gateway, tmp_path):
    """Pruning everything older than a moment leaves a checkpoint; verify still passes."""
    r = cli("audit", "prune", "--url", gateway.url, cwd=tmp_path, env=_master())
    assert r.returncode == 1 and "older_than_days" in r.stderr  # no default in this config
    r = cli(
        "audit",
        "prune",
        "--older-than-days",
        "0.000001",
        "--url",
        gateway.url,
        cwd=tmp_path,
        env=_master(),
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("deleted 3 records; verification now starts after seq 2:")
    verified = cli("audit", "verify", "--url", gateway.url, cwd=tmp_path, env=_master())
    assert verified.returncode == 0, verified.stderr
    assert "checkpoint seq 2" in verified.stdout
    again = cli(
        "audit",
        "prune",
        "--older-than-days",
        "30",
        "--url",
        gateway.url,
        cwd=tmp_path,
        env=_master(),
    )
    assert again.returncode == 0 and again.stdout.strip() == "nothing older than 30 days"


def test_prune_rejects_a_non_positive_age(gateway):
    for body in ({"older_than_days": 0}, {"older_than_days": "7"}, [1]):
        r = httpx.post(gateway.url + "/admin/audit/prune", json=body, headers=bearer(), timeout=10)
        assert r.status_code == 400, body


def test_export_with_bodies_needs_the_key_on_the_gateway(tmp_path, monkeypatch):
    """Bodies stored under a key the gateway no longer has: a 409 naming the fix, no stream."""
    monkeypatch.setenv("LOCKGATE_AUDIT_KEY", AUDIT_KEY)
    with serve_in_thread(settings_from_mapping(_settings(tmp_path))) as gw:
        r = httpx.post(
            gw.v1 + "/chat/completions",
            json={"model": "mock", "messages": HI},
            headers=bearer(),
            timeout=30,
        )
        assert r.status_code == 200
    monkeypatch.delenv("LOCKGATE_AUDIT_KEY")
    with serve_in_thread(settings_from_mapping(_settings(tmp_path, store_bodies=False))) as gw:
        r = cli("audit", "export", "--url", gw.url, cwd=tmp_path, env=_master())
        assert r.returncode == 1
        assert "HTTP 409" in r.stderr and "LOCKGATE_AUDIT_KEY" in r.stderr
        assert r.stdout == ""
        r = cli("audit", "export", "--no-bodies", "--url", gw.url, cwd=tmp_path, env=_master())
        assert r.returncode == 0 and len(r.stdout.splitlines()) == 1


def _master() -> dict[str, str]:
    return {"LOCKGATE_MASTER_KEY": MASTER}
