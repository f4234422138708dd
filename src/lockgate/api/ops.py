"""Operational routes: /health, /ready, /metrics, and the simple /api/* routes."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lockgate.api.common import json_response, read_json, with_errors
from lockgate.api.flow import (
    admin_services,
    recorded_failures,
    response_headers,
    run_chat,
    start_context,
)
from lockgate.chat import ChatResponse, parse_chat_request
from lockgate.errors import BadRequestError
from lockgate.services import services

__all__ = ["routes"]


async def health(request: Request) -> Response:
    """Liveness: the process answers."""
    return json_response({"status": "healthy", "timestamp": time.time()})


async def ready(request: Request) -> Response:
    """Readiness: 503 while draining; ``degraded`` (200) when a shared store is away.

    With the database down the gateway still serves (keys and prompts from their
    caches, the last known label versions), and without Redis limits fail open or
    closed as configured and caches miss: it reports ``degraded`` and stays in
    rotation, so a degradation does not become an outage. Only a gateway that never
    loaded its prompt state is not ready.
    """
    svc = services(request)
    if svc.lifecycle.draining:
        return json_response({"status": "draining", "checks": {}}, 503)
    db_ok = await svc.db.ping()
    registry = svc.prompts.registry
    checks: dict[str, object] = {
        "database": db_ok,
        **svc.health.up,
        "prompts": "stale" if registry.degraded or not db_ok else "ok",
    }
    if db_ok and all(svc.health.up.values()):
        status, code = "ready", 200
    elif db_ok or registry.head >= 0:
        status, code = "degraded", 200
    else:
        status, code = "not_ready", 503
    return json_response({"status": status, "checks": checks}, code)


@with_errors("openai")
async def metrics(request: Request) -> Response:
    """Prometheus metrics; they name every key and model, so the master key only."""
    svc = await admin_services(request, services(request))
    return Response(svc.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")


@with_errors("openai")
async def stats(request: Request) -> Response:
    """Live statistics for every key and model: the master key only."""
    svc = await admin_services(request, services(request))
    return json_response({**svc.stats.snapshot(), "routing": svc.dispatcher.snapshot()})


@with_errors("legacy")
async def legacy_chat(request: Request) -> Response:
    """The simple endpoint: one user input in, one answer out."""
    svc = services(request)
    ctx = await start_context(request, svc, "legacy", record_failure=True)
    with recorded_failures(svc, ctx):
        params: dict[str, object] = dict(request.query_params)
        if request.headers.get("content-length") not in (None, "0"):
            body = await read_json(request, svc.settings.general_settings.max_request_body_bytes)
            if not isinstance(body, dict):
                raise BadRequestError("Request body must be a JSON object.")
            params.update(body)
        user_input = params.get("user_input", params.get("message"))
        if not isinstance(user_input, str) or not user_input:
            raise BadRequestError("'user_input' is required.", param="user_input")
        model = params.get("model") or (svc.router.aliases[0] if svc.router.aliases else "")
        chat_body: dict[str, object] = {
            "model": model,
            "messages": [{"role": "user", "content": user_input}],
        }
        for name, kind in (("max_tokens", int), ("temperature", float)):
            if name in params:
                try:
                    chat_body[name] = kind(params[name])  # type: ignore[call-overload, arg-type]
                except (TypeError, ValueError):
                    raise BadRequestError(f"'{name}' must be a number.", param=name) from None
        chat = parse_chat_request(chat_body)
    result = await run_chat(svc, ctx, chat)
    assert isinstance(result, ChatResponse)
    return json_response(
        {
            "response": result.text,
            "cached": ctx.cache_status in ("hit", "semantic-hit"),
            "latency_ms": round((time.perf_counter() - ctx.started) * 1000, 3),
            "tokens_used": result.usage.total_tokens,
            "cost_usd": ctx.cost,
            "model": chat.model,
            "request_id": ctx.request_id,
        },
        headers=response_headers(ctx),
    )


routes = [
    Route("/health", health, methods=["GET"]),
    Route("/ready", ready, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
    Route("/api/stats", stats, methods=["GET"]),
    Route("/api/chat", legacy_chat, methods=["POST"]),
]
