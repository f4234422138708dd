"""Relay /openai/{path} and /anthropic/{path} to the provider's own API, accounted.

For the endpoints lockgate does not model (files, fine-tuning, batches, audio,
images, ...) the request goes through as it is, with the provider key swapped in
for the caller's gateway key.  It is never silently unaccounted: the caller must
authenticate (with the master key, unless ``passthrough.virtual_keys`` lets virtual keys
through), the key's request-count and concurrency limits apply, and each
call is recorded (metrics, usage rows, audit log) with the path in its notes and
any ``usage`` the answer reports.  The answer, streams included, is relayed as
the provider sent it.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from lockgate.api.common import with_errors
from lockgate.api.flow import start_context
from lockgate.chat import ChatRequest, Usage, usage_from_openai
from lockgate.context import ApiFlavor, RequestContext
from lockgate.errors import (
    BadRequestError,
    GatewayError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
)
from lockgate.limits import Limiter, Reservation
from lockgate.passthrough.config import PassthroughTarget
from lockgate.services import Services, services
from lockgate.stages.limits import LimitsStage
from lockgate.wire.anthropic_response import usage_from_anthropic

__all__ = ["routes"]

#: client headers relayed upstream (everything else, the gateway key included, stays here)
_FORWARD = (
    "content-type",
    "accept",
    "openai-beta",
    "openai-organization",
    "openai-project",
    "anthropic-beta",
    "anthropic-version",
    "idempotency-key",
)
#: upstream headers relayed back
_RELAY = ("content-type", "openai-processing-ms", "x-request-id", "request-id", "retry-after")
_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def _target(svc: Services, provider: str) -> PassthroughTarget:
    target: PassthroughTarget | None = getattr(svc.settings.passthrough, provider)
    if target is None:
        raise NotFoundError(f"No pass-through is configured for {provider}.")
    return target


async def _body(request: Request, limit: int) -> bytes:
    parts: list[bytes] = []
    seen = 0
    async for part in request.stream():
        seen += len(part)
        if seen > limit:
            raise PayloadTooLargeError(f"Request body exceeds the limit of {limit} bytes.")
        parts.append(part)
    return b"".join(parts)


def _headers(
    request_headers: Mapping[str, str], provider: str, target: PassthroughTarget
) -> dict[str, str]:
    headers = {h: request_headers[h] for h in _FORWARD if h in request_headers}
    if target.api_key is not None:
        key = target.api_key.get_secret_value()
        if provider == "anthropic":
            headers["x-api-key"] = key
            headers.setdefault("anthropic-version", "2023-06-01")
        else:
            headers["authorization"] = "Bearer " + key
    return headers


def _usage(provider: str, data: bytes, content_type: str) -> Usage | None:
    if "json" not in content_type or not data:
        return None
    try:
        parsed: Any = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    raw = parsed.get("usage") if isinstance(parsed, dict) else None
    if not isinstance(raw, dict):
        return None
    return usage_from_anthropic(raw) if provider == "anthropic" else usage_from_openai(raw)


def _limits(svc: Services) -> LimitsStage | None:
    return next((s for s in svc.pipeline.stages if isinstance(s, LimitsStage)), None)


def _handler(provider: ApiFlavor) -> Any:
    @with_errors(provider)
    async def relay(request: Request) -> Response:
        svc = services(request)
        ctx = await start_context(request, svc, provider, record_failure=True)
        label = f"passthrough/{provider}"
        target = _target(svc, provider)
        if not (ctx.principal.is_admin or svc.settings.passthrough.virtual_keys):
            ctx.error = PermissionDeniedError(
                "The pass-through routes need the master key (passthrough.virtual_keys is"
                " off): they reach the provider account every tenant shares, beyond this"
                " key's models, token limits and budget.",
                code="passthrough_admin_only",
            )
            svc.record(ctx, label, ctx.error.status, None)
            raise ctx.error
        path = request.path_params["path"]
        if ".." in path.split("/"):
            raise BadRequestError("Pass-through paths may not contain '..'.")
        ctx.notes["passthrough"] = {"method": request.method, "path": "/" + path}
        body = await _body(request, svc.settings.passthrough.max_body_bytes)
        stage = _limits(svc)
        reservation: Reservation | None = None
        if stage is not None:
            # Request counts and concurrency only: a relayed call has no token estimate.
            placeholder = ChatRequest(label, {"messages": []})
            rules = [
                r for r in stage.rules_for(ctx, placeholder) if r.kind in ("requests", "concurrent")
            ]
            if rules:
                limiter = Limiter(svc.limit_store, time.time)
                try:
                    reservation = await limiter.reserve(rules)
                except GatewayError as err:
                    ctx.error = err
                    svc.record(ctx, label, err.status, None)
                    raise
        url = target.api_base.rstrip("/") + "/" + path
        if request.url.query:
            url += "?" + request.url.query
        started = time.perf_counter()
        try:
            resp = await svc.passthrough.send(
                request.method,
                url,
                body,
                _headers(ctx.client_headers, provider, target),
                target.timeout,
            )
        except GatewayError as err:
            await _release(svc, reservation)
            ctx.error = err
            svc.record(ctx, label, err.status, None)
            raise
        finally:
            ctx.upstream_seconds += time.perf_counter() - started
        headers = {h: resp.headers[h] for h in _RELAY if h in resp.headers}
        headers["x-request-id"] = ctx.request_id
        content_type = resp.headers.get("content-type", "")
        if "text/event-stream" in content_type or "audio" in content_type:
            return StreamingResponse(
                _stream(svc, ctx, label, resp, reservation), resp.status, headers=headers
            )
        try:
            data = await resp.read()
        finally:
            resp.release()
            await _release(svc, reservation)
        svc.record(ctx, label, resp.status, _usage(provider, data, content_type))
        return Response(data, resp.status, headers=headers)

    relay.__name__ = f"{provider}_passthrough"
    return relay


async def _stream(
    svc: Services,
    ctx: RequestContext,
    label: str,
    resp: Any,
    reservation: Reservation | None,
) -> AsyncIterator[bytes]:
    status = 499
    try:
        async for data in resp.content.iter_any():
            if ctx.first_chunk_at is None:
                ctx.first_chunk_at = time.perf_counter()
            yield data
        status = resp.status
    finally:
        resp.close()
        await _release(svc, reservation)
        svc.record(ctx, label, status, None)


async def _release(svc: Services, reservation: Reservation | None) -> None:
    if reservation is not None:
        await Limiter(svc.limit_store, time.time).finish(reservation, tokens=0, cost=0.0)


routes = [
    Route("/openai/{path:path}", _handler("openai"), methods=_METHODS),
    Route("/anthropic/{path:path}", _handler("anthropic"), methods=_METHODS),
]
