"""SIGHUP re-reads the config file of a running `lockgate serve` process: a valid file's
models are served without a restart; an invalid one is refused in one log line and the
running config stays."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import httpx
from tests.conftest import free_port
from tests.live_server import spawn_serve, wait_ok
from tests.modelconfig.conftest import write_mock_config
from tests.support import bearer


def _status(url: str, model: str) -> int:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    return httpx.post(
        url + "/v1/chat/completions", json=body, headers=bearer(), timeout=10
    ).status_code


def _until(check: Any, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return bool(check())


def test_sighup_reloads_a_valid_file_and_refuses_an_invalid_one(tmp_path: Path) -> None:
    """Add a model to the file + SIGHUP: served within 5 s. Then an invalid file + SIGHUP:
    one 'refused' line in the log, both models still served, the process still up."""
    config = tmp_path / "gw.yaml"
    log = tmp_path / "gw.log"
    write_mock_config(config, tmp_path, ["mock"])
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = spawn_serve(config, port, log)
    try:
        wait_ok(url, proc=proc, log=log)
        assert _status(url, "added") == 404
        write_mock_config(
            config, tmp_path, ["mock", "added"], limits={"key_defaults": {"requests": "100/minute"}}
        )
        proc.send_signal(signal.SIGHUP)
        assert _until(lambda: _status(url, "added") == 200)
        assert _until(lambda: "needs a restart to apply: limits" in log.read_text())

        config.write_text(config.read_text().replace("model_list", "model_lsit"))
        proc.send_signal(signal.SIGHUP)
        assert _until(lambda: "config reload refused" in log.read_text())
        refused = [ln for ln in log.read_text().splitlines() if "config reload refused" in ln]
        assert len(refused) == 1
        assert "model_lsit" in refused[0]
        assert _status(url, "added") == 200
        assert _status(url, "mock") == 200
        assert proc.poll() is None
    finally:
        proc.terminate()
        proc.wait(timeout=40)
