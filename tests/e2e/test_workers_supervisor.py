"""The `--workers` supervisor binds and supervises without the gateway: its process never
imports the application, its services, uvicorn or Starlette (the workers do), yet the
workers it starts answer and it exits 0 when stopped."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
from tests.conftest import free_port
from tests.live_server import wait_ok
from tests.opex.support import write

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
    config = write(
        tmp_path / "lockgate.yaml",
        "model_list:\n  - model_name: mock\n    params: {model: mock/mock-1}\n"
        f"general_settings: {{database_url: 'sqlite:///{tmp_path / 'gw.db'}'}}\n"
        "server: {drain_seconds: 0}\n",
    )
    loaded = tmp_path / "loaded.json"
    # the supervisor entered as `python -m lockgate serve --workers 2` is; at exit it
    # writes the names of every module it imported
    probe = (
        "import atexit, json, sys\n"
        "out = sys.argv[1]\n"
        "atexit.register(lambda: open(out, 'w').write(json.dumps(sorted(sys.modules))))\n"
        "sys.argv = ['lockgate', 'serve', '-c', sys.argv[2], '--port', sys.argv[3],"
        " '--workers', '2']\n"
        "import runpy\nrunpy.run_module('lockgate', run_name='__main__')\n"
    )
    port = free_port()
    with (tmp_path / "serve.log").open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", probe, str(loaded), str(config), str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_ok(f"http://127.0.0.1:{port}", timeout=90)
        # both workers started (a worker stopped while still starting exits non-zero)
        for _ in range(900):
            if (tmp_path / "serve.log").read_text().count("Application startup complete") >= 2:
                break
            time.sleep(0.1)
        for _ in range(4):  # answered by the workers
            r = httpx.post(
                f"http://127.0.0.1:{port}/v1/chat/completions",
                json={"model": "mock", "messages": [{"role": "user", "content": "hi"}]},
                timeout=30,
            )
            assert r.status_code == 200
    finally:
        proc.terminate()
        assert proc.wait(timeout=90) == 0, (tmp_path / "serve.log").read_text()
    modules = json.loads(loaded.read_text())
    assert "lockgate.serving.workers" in modules  # the probe saw the supervisor itself
    leaked = sorted(m for m in modules if any(m == w or m.startswith(w + ".") for w in WORKER_ONLY))
    assert leaked == []
