"""Fixtures for observability tests: gateways on a temp SQLite file, driven in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from tests.support import MASTER, bearer, traced_app

from lockgate.app import create_app
from lockgate.services import Services
from lockgate.settings import Settings, settings_from_mapping
from lockgate.tracing import Tracing

PRICED = {"input_cost_per_million": 1000.0, "output_cost_per_million": 2000.0}

SettingsFactory = Callable[..., Settings]


def default_models() -> list[dict[str, Any]]:
    """A priced mock alias and a free one."""
    return [
        {"model_name": "priced", "params": {"model": "mock/mock-1", **PRICED}},
        {"model_name": "free", "params": {"model": "mock/mock-1"}},
    ]


@pytest.fixture()
def make_settings(tmp_path: Path) -> SettingsFactory:
    """Validated settings with a fresh SQLite database under tmp_path."""
    counter = iter(range(1000))

    def build(
        models: list[dict[str, Any]] | None = None,
        database_url: str | None = None,
        **sections: Any,
    ) -> Settings:
        data: dict[str, Any] = {
            "model_list": models if models is not None else default_models(),
            "general_settings": {
                "database_url": database_url
                or f"sqlite+aiosqlite:///{tmp_path}/gw{next(counter)}.db",
                "master_key": MASTER,
            },
            **sections,
        }
        return settings_from_mapping(data, env={})

    return build


@dataclass
class Gateway:
    client: httpx.AsyncClient
    services: Services

    async def chat(self, model: str, text: str, key: str = MASTER, **body: Any) -> httpx.Response:
        """POST one OpenAI chat completion."""
        return await self.client.post(
            "/v1/chat/completions",
            headers=bearer(key),
            json={"model": model, "messages": [{"role": "user", "content": text}], **body},
        )

    async def metrics(self) -> str:
        """The /metrics page."""
        r = await self.client.get("/metrics", headers=bearer())
        assert r.status_code == 200
        return r.text


GatewayOpener = Callable[..., Awaitable[Gateway]]


@pytest.fixture()
async def open_gateway() -> AsyncIterator[GatewayOpener]:
    """Start the real app (create_app) or, given a Tracing, the same routes on its services."""
    managers: list[LifespanManager] = []
    clients: list[httpx.AsyncClient] = []

    async def start(settings: Settings, tracing: Tracing | None = None) -> Gateway:
        app = create_app(settings) if tracing is None else traced_app(settings, tracing)
        manager = LifespanManager(startup_timeout=120, shutdown_timeout=120, app=app)
        await manager.__aenter__()
        managers.append(manager)
        # asgi-lifespan keeps the lifespan's state here; the tests only read it.
        svc: Services = manager._state["services"]
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(manager.app), base_url="http://gateway"
        )
        clients.append(client)
        return Gateway(client, svc)

    yield start
    for client in clients:
        await client.aclose()
    for manager in managers:
        await manager.__aexit__(None, None, None)
