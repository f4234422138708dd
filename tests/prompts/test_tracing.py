"""The request's span names the resolved prompt version."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from asgi_lifespan import LifespanManager
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.applications import Starlette
from tests.prompts.conftest import gateway_settings
from tests.support import bearer

from lockgate.api import openai_routes
from lockgate.prompts.spec import parse_spec
from lockgate.services import build_services
from lockgate.tracing import Tracing


async def test_span_carries_the_prompt(tmp_path: Path):
    """The SERVER span of a prompt-bearing chat has lockgate.prompt = name@version."""
    mem = InMemorySpanExporter()
    settings = gateway_settings(f"sqlite+aiosqlite:///{tmp_path}/gw.db")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, object]]:
        svc = await build_services(settings, tracing=Tracing.with_exporter(mem))
        spec = {
            "name": "faq",
            "model": "mock",
            "messages": [{"role": "user", "content": "{{ q }}"}],
            "labels": ["production"],
        }
        await svc.prompts.prompts.push(parse_spec(spec), "test")
        await svc.prompts.registry.refresh()
        try:
            yield {"services": svc}
        finally:
            await svc.aclose()

    app = Starlette(routes=openai_routes.routes, lifespan=lifespan)
    async with (
        LifespanManager(app, startup_timeout=60, shutdown_timeout=60) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(manager.app), base_url="http://gw", headers=bearer()
        ) as client,
    ):
        body = {"prompt": {"name": "faq", "variables": {"q": "hours?"}}}
        r = await client.post("/v1/chat/completions", json=body)
        assert r.status_code == 200, r.text
    root = next(s for s in mem.get_finished_spans() if s.name == "chat mock")
    assert root.attributes["lockgate.prompt"] == "faq@1"
