"""The ASGI application: routes, error rendering, and services built in the lifespan."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from lockgate.api import admin, anthropic_routes, openai_routes, ops
from lockgate.api.common import error_response
from lockgate.context import ApiFlavor
from lockgate.errors import BadRequestError, GatewayError, NotFoundError
from lockgate.services import build_services
from lockgate.settings import Settings
from lockgate.usage import routes as usage_routes

__all__ = ["create_app"]


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    err: GatewayError
    if exc.status_code == 404:
        err = NotFoundError(f"No route for {request.method} {request.url.path}.")
    else:
        err = BadRequestError(
            str(exc.detail),
            status=exc.status_code,
            code="method_not_allowed" if exc.status_code == 405 else None,
        )
    flavor: ApiFlavor = "anthropic" if request.url.path.startswith("/v1/messages") else "openai"
    return error_response(err, flavor)


def create_app(settings: Settings) -> Starlette:
    """Build the gateway for ``settings``; nothing starts until the lifespan runs."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, object]]:
        svc = await build_services(settings)
        # Everything built so far lives as long as the process: keep it out of the
        # cyclic GC's scans so full collections stay short (tail latency).
        gc.collect()
        gc.freeze()
        try:
            yield {"services": svc}
        finally:
            await svc.aclose()

    return Starlette(
        routes=[
            *openai_routes.routes,
            *anthropic_routes.routes,
            *ops.routes,
            *admin.routes,
            *usage_routes.routes,
        ],
        exception_handlers={HTTPException: _http_error},
        lifespan=lifespan,
    )
