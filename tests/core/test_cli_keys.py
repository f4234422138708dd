"""`lockgate keys …` against the configured database, and the keys it makes work in the API."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support import bearer


def run(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lockgate", "keys", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def write_config(tmp_path: Path) -> Path:
    config = tmp_path / "lockgate.yaml"
    config.write_text(
        "model_list:\n  - model_name: mock\n    params: {model: mock/mock-1}\n"
        "general_settings:\n  master_key: sk-master-test-0001\n"
        f"  database_url: sqlite+aiosqlite:///{tmp_path}/cli.db\n"
    )
    return config


async def test_keys_create_list_rotate_revoke(tmp_path, client_for):
    """Keys made by the CLI authenticate in the gateway until rotated or revoked."""
    from lockgate.settings import load_settings

    config = write_config(tmp_path)
    r = run(
        config,
        "create",
        "team-a",
        "--models",
        "mock",
        "--team",
        "alpha",
        "--metadata",
        '{"owner": "ann"}',
    )
    assert r.returncode == 0, r.stderr
    created = json.loads(r.stdout)
    assert created["key"].startswith("sk-lg-") and created["models"] == ["mock"]
    assert created["metadata"] == {"owner": "ann"}

    listed = json.loads(run(config, "list", "--json").stdout)
    assert [k["id"] for k in listed] == [created["id"]]
    assert "key" not in listed[0]
    table = run(config, "list").stdout
    assert created["id"] in table and "active" in table

    client = await client_for(load_settings(config))
    body = {"model": "mock", "messages": [{"role": "user", "content": "hi"}]}
    assert (
        await client.post("/v1/chat/completions", json=body, headers=bearer(created["key"]))
    ).status_code == 200

    rotated = json.loads(run(config, "rotate", created["id"]).stdout)
    assert rotated["key"] != created["key"]
    r = run(config, "revoke", created["id"])
    assert r.returncode == 0 and "revoked" in r.stdout
    assert json.loads(run(config, "list", "--json").stdout) == []
    assert len(json.loads(run(config, "list", "--json", "--all").stdout)) == 1
    client2 = await client_for(load_settings(config))  # fresh process state: no cached lookups
    assert (
        await client2.post("/v1/chat/completions", json=body, headers=bearer(rotated["key"]))
    ).status_code == 401


async def test_keys_create_with_limits(tmp_path, client_for):
    """--limits stores the key's limits; the gateway enforces them."""
    from lockgate.settings import load_settings

    config = write_config(tmp_path)
    r = run(config, "create", "small", "--limits", '{"requests": "2/minute", "budget": {"day": 5}}')
    assert r.returncode == 0, r.stderr
    created = json.loads(r.stdout)
    assert created["limits"] == {"requests": "2/minute", "budget": {"day": 5}}
    client = await client_for(load_settings(config))
    body = {"model": "mock", "messages": [{"role": "user", "content": "hi"}]}
    codes = [
        (
            await client.post("/v1/chat/completions", json=body, headers=bearer(created["key"]))
        ).status_code
        for _ in range(3)
    ]
    assert codes == [200, 200, 429]
    bad = run(config, "create", "bad", "--limits", '{"requests": "2/eon"}')
    assert bad.returncode == 2 and "--limits" in bad.stderr
    assert run(config, "create", "bad", "--limits", "[1]").returncode == 2


def test_revoke_unknown_key_fails_clearly(tmp_path):
    """Revoking an id that does not exist exits non-zero with a message."""
    config = write_config(tmp_path)
    r = run(config, "revoke", "key_nope")
    assert r.returncode == 1 and "No key with id 'key_nope'" in r.stderr
