"""Constants and small helpers shared by test modules."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx
    from opentelemetry.sdk.trace.export import SpanExporter
    from starlette.applications import Starlette

    from lockgate.services import Services
    from lockgate.settings import Settings
    from lockgate.tracing import Tracing

MASTER = "sk-master-test-0001"


def bearer(key: str = MASTER) -> dict[str, str]:
    """An Authorization header for ``key``."""
    return {"authorization": f"Bearer {key}"}


def traced_app(settings: Settings, tracing: Tracing) -> Starlette:
    """The gateway's client-facing routes on services built with ``tracing``
    (create_app builds its own Tracing from the settings)."""
    from starlette.applications import Starlette

    from lockgate.api import admin, anthropic_routes, openai_routes, ops
    from lockgate.services import build_services
    from lockgate.usage import routes as usage_routes

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, object]]:
        svc = await build_services(settings, tracing=tracing)
        try:
            yield {"services": svc}
        finally:
            await svc.aclose()

    routes = [
        *openai_routes.routes,
        *anthropic_routes.routes,
        *ops.routes,
        *admin.routes,
        *usage_routes.routes,
    ]
    return Starlette(routes=routes, lifespan=lifespan)


@contextlib.asynccontextmanager
async def traced_gateway(
    settings: Settings, exporter: SpanExporter
) -> AsyncIterator[tuple[httpx.AsyncClient, Services]]:
    """An in-process gateway whose spans go to ``exporter``: a client that sends the
    master key, and the gateway's services."""
    import httpx
    from asgi_lifespan import LifespanManager

    from lockgate.tracing import Tracing

    app = traced_app(settings, Tracing.with_exporter(exporter))
    async with (
        LifespanManager(app, startup_timeout=120, shutdown_timeout=120) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(manager.app), base_url="http://gw", headers=bearer()
        ) as client,
    ):
        # asgi-lifespan keeps the lifespan's state here; the tests only read it.
        yield client, manager._state["services"]
