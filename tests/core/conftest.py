"""Fixtures for gateway tests: settings on a temp SQLite file and an in-process client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from tests.support import MASTER

from lockgate.app import create_app
from lockgate.settings import Settings, settings_from_mapping

SettingsFactory = Callable[..., Settings]


@pytest.fixture()
def make_settings(tmp_path: Path) -> SettingsFactory:
    """Build validated settings with a fresh SQLite database under tmp_path."""

    def build(
        models: list[dict[str, Any]] | None = None,
        master_key: str | None = MASTER,
        **general: Any,
    ) -> Settings:
        data: dict[str, Any] = {
            "model_list": models
            if models is not None
            else [{"model_name": "mock", "params": {"model": "mock/mock-1"}}],
            "general_settings": {
                "database_url": f"sqlite+aiosqlite:///{tmp_path}/lockgate.db",
                **({"master_key": master_key} if master_key else {}),
                **general,
            },
        }
        return settings_from_mapping(data, env={})

    return build


@pytest.fixture()
async def client_for() -> AsyncIterator[Callable[[Settings], Any]]:
    """Open an httpx client on a lifespan-managed app (ASGI transport, no sockets)."""
    managers: list[LifespanManager] = []
    clients: list[httpx.AsyncClient] = []

    async def open_client(settings: Settings) -> httpx.AsyncClient:
        manager = LifespanManager(
            startup_timeout=120, shutdown_timeout=120, app=create_app(settings)
        )
        await manager.__aenter__()
        managers.append(manager)
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(manager.app), base_url="http://gateway"
        )
        clients.append(client)
        return client

    yield open_client
    for client in clients:
        await client.aclose()
    for manager in managers:
        await manager.__aexit__(None, None, None)
