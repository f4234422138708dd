"""A config reload signalled while the gateway is still starting is not lost: once
started, the process compares the file on disk with the one it loaded and re-reads it if
it changed; a SIGHUP during a reload gets one more reload; a worker of ``--workers``
cannot be killed by a SIGHUP that reaches it before its handler is in place."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from tests.conftest import free_port
from tests.live_server import spawn_serve, wait_ok
from tests.modelconfig.conftest import write_mock_config
from tests.support import bearer

from lockgate.app import create_app
from lockgate.lifecycle import Lifecycle
from lockgate.settings import load_settings


async def _status(client: httpx.AsyncClient, model: str) -> int:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    return (await client.post("/v1/chat/completions", json=body, headers=bearer())).status_code


@pytest.mark.parametrize("edited", [True, False])
async def test_file_edited_while_starting_is_applied_once_started(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, edited: bool
) -> None:
    """Settings loaded, then the file edited and SIGHUP'd before the lifespan ran (the
    signal finds nothing to reload): the started gateway serves the edited file. An
    unchanged file is not re-read."""
    config = tmp_path / "gw.yaml"
    write_mock_config(config, tmp_path, ["mock"])
    settings = load_settings(config)
    lifecycle = Lifecycle(config_path=str(config))
    app = create_app(settings, lifecycle=lifecycle)
    if edited:
        write_mock_config(config, tmp_path, ["mock", "added"])
    caplog.set_level(logging.WARNING, logger="lockgate")
    lifecycle.request_reload()  # the SIGHUP that came too early
    assert "SIGHUP while starting" in caplog.text
    async with (
        LifespanManager(app, startup_timeout=60, shutdown_timeout=60) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(manager.app), base_url="http://gateway"
        ) as client,
    ):
        assert await _status(client, "mock") == 200
        assert await _status(client, "added") == (200 if edited else 404)
    assert ("changed while the gateway started" in caplog.text) is edited
    assert ("config reloaded from" in caplog.text) is edited


async def test_sighup_during_a_reload_gets_one_more_reload() -> None:
    """A reload may have read the file before an edit signalled while it runs: one more
    follows it; several signals during one reload make one more, not several."""
    lifecycle = Lifecycle(config_path="unused.yaml")
    gate = asyncio.Event()
    runs: list[str] = []

    async def reload() -> bool:
        runs.append("reload")
        await gate.wait()
        return True

    async def catch_up() -> bool:
        runs.append("catch-up")
        return False

    await lifecycle.started(reload, catch_up)
    assert runs == ["catch-up"]
    lifecycle.request_reload()
    await asyncio.sleep(0)
    assert runs == ["catch-up", "reload"]
    for _ in range(3):
        lifecycle.request_reload()  # while the first reload still runs
    gate.set()
    for _ in range(20):
        await asyncio.sleep(0)
    assert runs == ["catch-up", "reload", "reload"]


def _children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def test_sighups_while_workers_start_lose_no_worker_and_no_edit(tmp_path: Path) -> None:
    """SIGHUPs sent to `serve --workers 2` every 20 ms while its workers start (the file
    edited during them): no worker dies of one (it would be replaced, and logged), and
    once both have started every answer comes from the edited file."""
    config = tmp_path / "gw.yaml"
    write_mock_config(config, tmp_path, ["mock"])
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "gw.log"
    proc = spawn_serve(config, port, log_path, "--workers", "2")
    try:
        deadline = time.monotonic() + 60
        while "workers: 2" not in log_path.read_text():  # the parent's handlers are next
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        sent = 0
        while log_path.read_text().count("Application startup complete") < 2:
            assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text()
            proc.send_signal(signal.SIGHUP)
            sent += 1
            if sent == 10:
                write_mock_config(config, tmp_path, ["mock", "added"])
            time.sleep(0.02)
        assert sent > 10
        wait_ok(url)
        text = log_path.read_text()
        assert "exited with" not in text, text
        assert len(_children(proc.pid)) == 2
        body = {"model": "added", "messages": [{"role": "user", "content": "hi"}]}
        deadline = time.monotonic() + 10
        codes: list[int] = []
        while time.monotonic() < deadline:  # fresh connections reach both workers
            codes = [
                httpx.post(url + "/v1/chat/completions", json=body, headers=bearer()).status_code
                for _ in range(10)
            ]
            if codes == [200] * 10:
                break
            time.sleep(0.1)
        assert codes == [200] * 10
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=40) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
