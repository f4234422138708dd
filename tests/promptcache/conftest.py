"""A recorded-answer upstream and an in-process gateway in front of it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from asgi_lifespan import LifespanManager
from tests.fakes.replay import ReplayUpstream
from tests.support import MASTER

from lockgate.app import create_app
from lockgate.services import Services
from lockgate.settings import settings_from_mapping
from lockgate.usage.sinks import find_usage_writer
from lockgate.usage.tables import usage_records


def replay_models(base: str) -> list[dict[str, Any]]:
    """``gpt`` (OpenAI gpt-4o), ``claude`` (Anthropic claude-sonnet-4-5) and ``bedrock-claude``
    (the same on Bedrock, priced as Anthropic's), all at ``base``."""
    return [
        {
            "model_name": "gpt",
            "params": {"model": "openai/gpt-4o", "api_base": base + "/v1", "api_key": "sk-up"},
        },
        {
            "model_name": "claude",
            "params": {"model": "anthropic/claude-sonnet-4-5", "api_base": base, "api_key": "k"},
        },
        {
            "model_name": "bedrock-claude",
            "params": {
                "model": "bedrock/anthropic.claude-sonnet-4-5-20250929-v1:0",
                "api_base": base + "/bedrock",
                "api_key": "bedrock-api-key",
                "aws_region_name": "eu-west-1",
                "input_cost_per_million": 3.0,
                "output_cost_per_million": 15.0,
            },
        },
    ]


@dataclass
class ReplayGateway:
    client: httpx.AsyncClient
    services: Services

    async def usage_rows(self) -> list[dict[str, Any]]:
        """The usage rows written so far (the writer flushed first)."""
        writer = find_usage_writer(self.services.sinks)
        assert writer is not None
        await writer.flush()
        async with self.services.db.engine.connect() as conn:
            rows = await conn.execute(sa.select(usage_records).order_by(usage_records.c.started_at))
            return [dict(r._mapping) for r in rows]


@pytest.fixture()
async def replay() -> AsyncIterator[ReplayUpstream]:
    """A started recorded-answer upstream."""
    upstream = ReplayUpstream()
    await upstream.start()
    yield upstream
    await upstream.stop()


GatewayOpener = Callable[..., Awaitable[ReplayGateway]]


@pytest.fixture()
async def open_gateway(tmp_path: Path) -> AsyncIterator[GatewayOpener]:
    """Start the real app for a model list and extra config sections."""
    opened: list[tuple[LifespanManager, httpx.AsyncClient]] = []

    async def start(models: list[dict[str, Any]], **sections: Any) -> ReplayGateway:
        data = {
            "model_list": models,
            "general_settings": {
                "master_key": MASTER,
                "database_url": f"sqlite+aiosqlite:///{tmp_path}/gw{len(opened)}.db",
            },
            **{"router_settings": {"num_retries": 0}, **sections},
        }
        # a loaded box takes longer than asgi-lifespan's 5 s to drain the writers
        manager = LifespanManager(
            create_app(settings_from_mapping(data, env={})),
            startup_timeout=120,
            shutdown_timeout=120,
        )
        await manager.__aenter__()
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(manager.app), base_url="http://gateway"
        )
        opened.append((manager, client))
        return ReplayGateway(client, manager._state["services"])

    yield start
    for manager, client in opened:
        await client.aclose()
        await manager.__aexit__(None, None, None)
