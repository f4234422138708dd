"""The `--workers` supervisor binds and supervises without the gateway: its process never
imports the application, its services, uvicorn or Starlette (the workers do), yet the
workers it starts answer and it exits 0 when stopped."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.conftest import free_port
from tests.live_server import wait_ok
from tests.opex.support import ask_mock, mock_config, run_probe

#: what only a worker needs (a supervisor that imported ``lockgate.server`` had them all)
WORKER_ONLY = (
    "lockgate.app",
    "lockgate.server",
    "lockgate.services",
    "lockgate.pipeline",
    "lockgate.dispatcher",
    "lockgate.providers",
    "uvicorn",
    "starlette",
    "httptools",
    "uvloop",
    "aiohttp",
)


def test_the_supervisor_imports_no_application(tmp_path: Path) -> None:
    config = mock_config(tmp_path)
    loaded = tmp_path / "loaded.json"
    # the supervisor entered as `python -m lockgate serve --workers 2` is; at exit it
    # writes the names of every module it imported
    port = free_port()
    proc = run_probe(
        "",
        "sorted(sys.modules)",
        loaded,
        config,
        port,
        "--workers",
        "2",
        log=tmp_path / "serve.log",
    )
    try:
        wait_ok(f"http://127.0.0.1:{port}", timeout=90)
        # both workers started (a worker stopped while still starting exits non-zero)
        for _ in range(900):
            if (tmp_path / "serve.log").read_text().count("Application startup complete") >= 2:
                break
            time.sleep(0.1)
        for _ in range(4):  # answered by the workers
            assert ask_mock(port) == 200
    finally:
        proc.terminate()
        assert proc.wait(timeout=90) == 0, (tmp_path / "serve.log").read_text()
    modules = json.loads(loaded.read_text())
    assert "lockgate.serving.workers" in modules  # the probe saw the supervisor itself
    leaked = sorted(m for m in modules if any(m == w or m.startswith(w + ".") for w in WORKER_ONLY))
    assert leaked == []
