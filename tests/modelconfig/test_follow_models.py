"""Stages that depend on the models served follow a live model change: a context budget's
window is the new models' window, and a reloaded file the gateway could not restart on
(a budget or auto_cache alias it no longer serves) is refused like an invalid one."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from asgi_lifespan import LifespanManager
from tests.support import MASTER, bearer

from lockgate.app import create_app
from lockgate.lifecycle import Lifecycle
from lockgate.services import Services
from lockgate.settings import load_settings

LONG = "word " * 3000  # ~3,000 tokens by any count


def _entry(alias: str, window: int) -> dict[str, Any]:
    return {
        "model_name": alias,
        "params": {"model": "mock/mock-1"},
        "model_info": {"max_input_tokens": window},
    }


def _write(path: Path, models: list[dict[str, Any]], **sections: Any) -> None:
    data = {
        "model_list": models,
        "general_settings": {
            "master_key": MASTER,
            "database_url": f"sqlite+aiosqlite:///{path.parent}/gw.db",
        },
        **sections,
    }
    path.write_text(yaml.safe_dump(data))


async def _chat(client: httpx.AsyncClient, model: str) -> httpx.Response:
    body = {"model": model, "max_tokens": 10, "messages": [{"role": "user", "content": LONG}]}
    return await client.post("/v1/chat/completions", json=body, headers=bearer())


async def _run(config: Path, steps: Any) -> None:
    app = create_app(load_settings(config), lifecycle=Lifecycle(config_path=str(config)))
    async with (
        LifespanManager(app, startup_timeout=60, shutdown_timeout=60) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(manager.app), base_url="http://gateway"
        ) as client,
    ):
        await steps(client, manager._state["services"])


async def test_a_budget_follows_the_models_window(tmp_path: Path) -> None:
    """strategy: error with no max_input_tokens: the limit is the models' window. The
    file moves the alias to a 1,000-token model: the same prompt that was answered is
    now refused with context_length_exceeded, without a restart."""
    config = tmp_path / "gw.yaml"
    budget = {"aliases": {"chat": {"strategy": "error"}}}
    _write(config, [_entry("chat", 100_000)], context=budget)

    async def steps(client: httpx.AsyncClient, svc: Services) -> None:
        assert (await _chat(client, "chat")).status_code == 200
        _write(config, [_entry("chat", 1_000)], context=budget)
        assert await svc.models.reload_file()
        r = await _chat(client, "chat")
        assert r.status_code == 400, r.text
        assert r.json()["error"]["code"] == "context_length_exceeded"

    await _run(config, steps)


@pytest.mark.parametrize(
    "sections",
    [
        {"context": {"aliases": {"gone": {"max_input_tokens": 500}}}},
        {"prompt_cache": {"auto_cache": ["gone"]}},
    ],
)
async def test_a_file_the_gateway_could_not_restart_on_is_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, sections: dict[str, Any]
) -> None:
    """The file drops an alias its context or auto_cache section still names: refused in
    one log line (a restart would fail on it), and the alias is still served. The same
    file without that section is taken, and the running stage leaves the alias out."""
    config = tmp_path / "gw.yaml"
    claude = {
        "model_name": "gone",
        "params": {"model": "anthropic/claude-sonnet-4-5", "api_key": "k"},
        "model_info": {"max_input_tokens": 100_000},
    }
    _write(config, [_entry("chat", 100_000), claude], **sections)
    caplog.set_level(logging.WARNING, logger="lockgate")

    async def steps(client: httpx.AsyncClient, svc: Services) -> None:
        generation = svc.models.generation
        _write(config, [_entry("chat", 100_000)], **sections)
        assert not await svc.models.reload_file()
        refused = [r.getMessage() for r in caplog.records if "reload refused" in r.getMessage()]
        assert len(refused) == 1
        assert "'gone'" in refused[0]
        assert svc.models.generation == generation
        assert any(d.alias == "gone" for d in svc.dispatcher.router.deployments)

        _write(config, [_entry("chat", 100_000)])
        assert await svc.models.reload_file()
        assert not any(d.alias == "gone" for d in svc.dispatcher.router.deployments)
        assert "'gone' not applied after a model change" in caplog.text
        assert (await _chat(client, "chat")).status_code == 200

    await _run(config, steps)
