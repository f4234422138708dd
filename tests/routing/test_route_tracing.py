"""The request's span carries the routing decision."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from asgi_lifespan import LifespanManager
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.applications import Starlette
from tests.routing.test_route_stage import config
from tests.support import bearer

from lockgate.api import openai_routes
from lockgate.services import build_services
from lockgate.settings import settings_from_mapping
from lockgate.tracing import Tracing


async def test_span_carries_the_route(tmp_path: Path) -> None:
    """The SERVER span of a routed chat names the routing alias, the target, the score
    and the threshold, as the x-lockgate-route header does."""
    mem = InMemorySpanExporter()
    settings = settings_from_mapping(config(tmp_path, {"threshold": 0.25}), env={})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, object]]:
        svc = await build_services(settings, tracing=Tracing.with_exporter(mem))
        try:
            yield {"services": svc}
        finally:
            await svc.aclose()

    app = Starlette(routes=openai_routes.routes, lifespan=lifespan)
    async with (
        LifespanManager(app, startup_timeout=120, shutdown_timeout=120) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(manager.app), base_url="http://gw", headers=bearer()
        ) as client,
    ):
        body = {"model": "smart", "messages": [{"role": "user", "content": "Hi there!"}]}
        r = await client.post("/v1/chat/completions", json=body)
        assert r.status_code == 200, r.text
    header = dict(part.split("=") for part in r.headers["x-lockgate-route"].split("; ")[1:])
    span = next(s for s in mem.get_finished_spans() if s.attributes.get("lockgate.route.alias"))
    assert span.attributes["lockgate.route.alias"] == "smart"
    assert span.attributes["lockgate.route.target"] == header["target"]
    assert span.attributes["lockgate.route.threshold"] == 0.25
    assert f"{span.attributes['lockgate.route.score']:.6f}" == header["score"]
