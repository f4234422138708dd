"""`lockgate models list|add|remove` against the configured database, and a gateway
on the same database serving what the command added."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import yaml
from tests.support import MASTER, bearer
from typer.testing import CliRunner

from lockgate.cli import app
from lockgate.settings import load_settings


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "gw.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "model_list": [{"model_name": "mock", "params": {"model": "mock/mock-1"}}],
                "general_settings": {
                    "master_key": MASTER,
                    "database_url": f"sqlite+aiosqlite:///{tmp_path}/gw.db",
                },
                "live_models": {"sync_seconds": 0.2},
            }
        )
    )
    return path


async def test_cli_add_list_remove_reaches_a_running_gateway(
    tmp_path: Path, client_for: Callable[..., Any]
) -> None:
    """`models add` stores a deployment a running gateway serves within 5 s; `list`
    shows it; `remove` stops it; a bad model is refused with exit code 2."""
    config = _config(tmp_path)
    c: httpx.AsyncClient = await client_for(load_settings(config))
    runner = CliRunner()
    body = {"messages": [{"role": "user", "content": "hi"}]}

    async def status(model: str) -> int:
        r = await c.post("/v1/chat/completions", json={**body, "model": model}, headers=bearer())
        return r.status_code

    async def until(model: str, want: int) -> int:
        got = 0
        for _ in range(100):  # 5 s at most
            got = await status(model)
            if got == want:
                break
            await asyncio.sleep(0.05)
        return got

    added = await asyncio.to_thread(
        runner.invoke, app, ["models", "add", "cli-model", "mock/mock-1", "-c", str(config)]
    )
    assert added.exit_code == 0, added.output
    rid = added.stdout.strip().splitlines()[-1]
    assert rid.startswith("m-")
    assert await until("cli-model", 200) == 200
    listed = await asyncio.to_thread(runner.invoke, app, ["models", "list", "-c", str(config)])
    assert rid in listed.stdout and "cli-model" in listed.stdout
    bad = await asyncio.to_thread(
        runner.invoke, app, ["models", "add", "x", "nope/x", "-c", str(config)]
    )
    assert bad.exit_code == 2
    assert "unknown provider" in bad.output
    removed = await asyncio.to_thread(
        runner.invoke, app, ["models", "remove", rid, "-c", str(config)]
    )
    assert removed.exit_code == 0, removed.output
    assert await until("cli-model", 404) == 404
