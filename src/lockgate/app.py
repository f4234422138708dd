"""The ASGI application: routes, error rendering, and services built in the lifespan."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from lockgate.api import admin, anthropic_routes, completions_routes, openai_routes, ops
from lockgate.api.common import Endpoint, error_response
from lockgate.audit import routes as audit_routes
from lockgate.batches import routes as batch_routes
from lockgate.console import routes as console_routes
from lockgate.context import ApiFlavor
from lockgate.errors import BadRequestError, GatewayError, NotFoundError
from lockgate.evals import routes as eval_routes
from lockgate.experiments import routes as experiment_routes
from lockgate.lifecycle import Lifecycle
from lockgate.modelconfig import routes as model_routes
from lockgate.passthrough import routes as passthrough_routes
from lockgate.prompts import routes as prompt_routes
from lockgate.responses import routes as responses_routes
from lockgate.services import build_services
from lockgate.serving.fastlane import FAST_LANE_STATE_KEY, FastLane
from lockgate.serving.protocol import GUARD_STATE_KEY
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
    path = request.url.path
    anthropic = path.startswith(("/v1/messages", "/anthropic/"))
    flavor: ApiFlavor = "anthropic" if anthropic else "openai"
    return error_response(err, flavor)


#: objects allocated (net) before the youngest generation is collected (CPython: 700)
GC_YOUNG_THRESHOLD = 20_000


class _HotPaths:
    """Serve the hot POST routes straight, without Starlette's middleware and router walk.

    Their endpoints render every error themselves (``with_errors``), so the generic
    exception middleware has nothing to add there; it measured about a tenth of the
    gateway's own time per request.  Everything else goes to the Starlette app.
    """

    def __init__(self, app: Starlette, routes: dict[str, Endpoint]) -> None:
        self.app = app
        self._routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            endpoint = self._routes.get(scope["path"])
            if endpoint is not None:
                response = await endpoint(Request(scope, receive, send))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(settings: Settings, *, lifecycle: Lifecycle | None = None) -> ASGIApp:
    """Build the gateway for ``settings``; nothing starts until the lifespan runs.
    ``lifecycle`` is shared with the server that drains on SIGTERM (lockgate.lifecycle)."""
    hot = {**openai_routes.hot_paths, **anthropic_routes.hot_paths}

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, object]]:
        path = lifecycle.config_path if lifecycle is not None else None
        svc = await build_services(settings, config_path=path)
        if lifecycle is not None:
            svc.lifecycle = lifecycle
            # a SIGHUP sent while this process started found nothing to reload
            await lifecycle.started(svc.models.reload_file, svc.models.reload_if_changed)
        # Everything built so far lives as long as the process: keep it out of the
        # cyclic GC's scans so full collections stay short (tail latency).
        gc.collect()
        gc.freeze()
        # A request leaves few container objects behind but allocates hundreds in flight:
        # at CPython's default (700) the young generation was collected every ~8 requests
        # (about 5% of the CPU per request, bench/README.md); 20,000 collects the same
        # cyclic garbage a few times a minute under load.
        thresholds = gc.get_threshold()
        gc.set_threshold(GC_YOUNG_THRESHOLD, *thresholds[1:])
        state: dict[str, object] = {"services": svc, GUARD_STATE_KEY: svc.connections}
        if settings.server.fast_lane:
            # lockgate's protocol serves these itself, without ASGI (serving/fastlane.py)
            state[FAST_LANE_STATE_KEY] = FastLane(hot)
        try:
            yield state
        finally:
            gc.set_threshold(*thresholds)
            if lifecycle is not None:
                lifecycle.reload = None
            await svc.aclose()

    app = Starlette(
        routes=[
            *openai_routes.routes,
            *anthropic_routes.routes,
            *ops.routes,
            *admin.routes,
            *usage_routes.routes,
            *eval_routes.routes,
            *responses_routes.routes,
            *completions_routes.routes,
            *passthrough_routes.routes,
            *audit_routes.routes,
            *prompt_routes.routes,
            *experiment_routes.routes,
            *batch_routes.routes,
            *console_routes.routes,
            *model_routes.routes,
        ],
        exception_handlers={HTTPException: _http_error},
        lifespan=lifespan,
    )
    return _HotPaths(app, hot)
