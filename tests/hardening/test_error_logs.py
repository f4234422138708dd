"""Finding 5, the log side: what the upstream said is logged, with secrets masked, the
deployment's own api_key included whatever its shape (a real `lockgate serve` process
writing its JSON logs to a file)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml
from tests.conftest import free_port
from tests.fakes import Fault
from tests.support import MASTER, bearer

#: shaped like no known credential, so only the deployment's own key can mask it
PROVIDER_KEY = "Qz7-tenant-cred-0x93ab-PLAIN"


def test_upstream_detail_is_logged_with_the_deployment_key_masked(tmp_path: Path, fake):
    """The client gets a clean 502; the log line keeps the upstream's words minus the key."""
    config = {
        "model_list": [
            {
                "model_name": "gpt-4o-mini",
                "params": {
                    "model": "openai/gpt-4o-mini",
                    "api_base": fake.openai_base_url,
                    "api_key": PROVIDER_KEY,
                },
            }
        ],
        "router_settings": {"num_retries": 0},
        "general_settings": {
            "master_key": MASTER,
            "database_url": f"sqlite+aiosqlite:///{tmp_path}/logs.db",
        },
    }
    path = tmp_path / "logs.yaml"
    path.write_text(yaml.safe_dump(config))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "gateway.log"
    echo = f"Incorrect API key provided: {PROVIDER_KEY}. Reached 10.1.2.3:8443 upstream-7"
    fake.push_fault(
        Fault.error(401, body={"error": {"message": echo, "type": "invalid_request_error"}})
    )
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "lockgate", "serve", "-c", str(path), "--port", str(port)],
            stdout=log,
            stderr=log,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(base + "/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "gateway did not start"
                time.sleep(0.1)
            r = httpx.post(
                base + "/v1/chat/completions",
                json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
                headers=bearer(),
                timeout=30,
            )
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    assert r.status_code == 502
    assert PROVIDER_KEY not in r.text and "10.1.2.3" not in r.text
    text = log_path.read_text()
    assert PROVIDER_KEY not in text
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    (failed,) = [line for line in lines if line.get("msg") == "upstream attempt failed"]
    assert "Incorrect API key provided: ***" in failed["detail"]
    assert "upstream-7" in failed["detail"] and failed["upstream_status"] == 401
    assert failed["request_id"] == r.headers["x-request-id"]
