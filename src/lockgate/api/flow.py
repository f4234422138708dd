"""The walk every chat route shares: authenticate, run the pipeline, account.

Each request is recorded exactly once: when its response is complete, when it
fails, or (streams) when the client goes away.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from typing import cast

from starlette.requests import Request

from lockgate.api.common import REQUEST_ID_SCOPE_KEY, header_map, presented_key
from lockgate.auth.keys import Principal
from lockgate.cache.header import CacheStatus, cache_header_value
from lockgate.chat import (
    ChatRequest,
    ChatResponse,
    ChatStream,
    Chunk,
    Usage,
    close_stream,
    usage_from_openai,
)
from lockgate.context import ApiFlavor, RequestContext
from lockgate.errors import GatewayError, InternalError, PermissionDeniedError
from lockgate.pipeline import Result
from lockgate.services import Services

__all__ = [
    "CLIENT_CLOSED",
    "account_stream",
    "admin_services",
    "recorded_failures",
    "response_headers",
    "run_chat",
    "start_context",
]

#: nginx's status for "client closed the connection", used in metrics for cancelled streams.
CLIENT_CLOSED = 499
UNKNOWN_MODEL = "(unknown)"
#: who a request that failed authentication is recorded as
UNAUTHENTICATED = Principal(kind="unauthenticated")


async def start_context(
    request: Request, svc: Services, flavor: ApiFlavor, *, record_failure: bool = False
) -> RequestContext:
    """Authenticate (before any other work) and open the request's context.

    With ``record_failure`` (the chat routes) a refused key is recorded too: failed
    authentication belongs in the audit log.
    """
    headers = header_map(request)
    # The id exists before any check can fail, so every error response can carry it.
    request_id = svc.request_ids.new(headers)
    request.scope[REQUEST_ID_SCOPE_KEY] = request_id
    presented = presented_key(headers)
    try:
        principal = await svc.auth.authenticate(presented)
    except GatewayError as err:
        if record_failure:
            ctx = _context(request, headers, request_id, flavor, UNAUTHENTICATED)
            ctx.notes["auth"] = {"key_presented": presented is not None, "code": err.code}
            ctx.error = err
            svc.record(ctx, UNKNOWN_MODEL, err.status, None)
        raise
    return _context(request, headers, request_id, flavor, principal)


async def admin_services(request: Request, svc: Services) -> Services:
    """Authenticate and require the master key (any caller in open local mode)."""
    ctx = await start_context(request, svc, "openai")
    if not (ctx.principal.is_admin or svc.auth.open_mode):
        raise PermissionDeniedError("This endpoint needs the master key.", code="admin_only")
    return svc


def _context(
    request: Request,
    headers: dict[str, str],
    request_id: str,
    flavor: ApiFlavor,
    principal: Principal,
) -> RequestContext:
    return RequestContext(
        request_id=request_id,
        principal=principal,
        api=flavor,
        client_headers=headers,
        client_ip=request.client.host if request.client else None,
    )


@contextlib.contextmanager
def recorded_failures(svc: Services, ctx: RequestContext) -> Iterator[None]:
    """Record the request if the block fails (reading and parsing, before ``run_chat``)."""
    try:
        yield
    except GatewayError as err:
        ctx.error = err
        svc.record(ctx, UNKNOWN_MODEL, err.status, None)
        raise
    except Exception:
        ctx.error = InternalError("Internal gateway error.")
        svc.record(ctx, UNKNOWN_MODEL, ctx.error.status, None)
        raise


def response_headers(ctx: RequestContext) -> dict[str, str]:
    headers = {"x-request-id": ctx.request_id, **ctx.headers}
    headers["x-lockgate-overhead-ms"] = f"{ctx.overhead_ms():.3f}"
    if ctx.attempts or ctx.upstream_seconds:
        headers["x-lockgate-upstream-ms"] = f"{ctx.upstream_seconds * 1000.0:.3f}"
    dep = ctx.deployment
    if dep is not None:
        headers["x-lockgate-model"] = dep.params.upstream_model
        headers["x-lockgate-provider"] = dep.provider
        headers["x-lockgate-deployment"] = dep.id
    if ctx.attempts > 1:
        headers["x-lockgate-attempts"] = str(ctx.attempts)
    if ctx.cache_status:
        score = (ctx.notes.get("semantic_cache") or {}).get("score")
        served = ctx.cache_status == "semantic-hit"
        status = cast(CacheStatus, ctx.cache_status)
        headers["x-lockgate-cache"] = cache_header_value(status, score if served else None)
    if ctx.usage is not None:
        headers["x-lockgate-cost-usd"] = f"{ctx.cost:.8f}"
    return headers


async def run_chat(svc: Services, ctx: RequestContext, chat: ChatRequest) -> Result:
    """Check the model and the key's scope, then walk the pipeline."""
    ctx.stream = chat.stream
    ctx.user = chat.user or ctx.client_headers.get(svc.settings.limits.user_header)
    try:
        svc.router.resolve(chat.model)
    except GatewayError as err:
        # Unknown names are not metric labels: a client could mint them without end.
        ctx.error = err
        svc.record(ctx, UNKNOWN_MODEL, err.status, None)
        raise
    try:
        ctx.principal.check_model(chat.model)
        result = await svc.pipeline(ctx, chat)
    except GatewayError as err:
        ctx.error = err
        svc.record(ctx, chat.model, err.status, None)
        raise
    except asyncio.CancelledError:
        svc.record(ctx, chat.model, CLIENT_CLOSED, None)
        raise
    except Exception:
        # A bug still answers 500 (with_errors); the request must still be on record.
        ctx.error = InternalError("Internal gateway error.")
        svc.record(ctx, chat.model, ctx.error.status, None)
        raise
    if isinstance(result, ChatResponse):
        svc.record(ctx, chat.model, 200, result.usage)
    return result


async def account_stream(
    svc: Services, ctx: RequestContext, model: str, stream: ChatStream
) -> AsyncIterator[Chunk]:
    """Pass chunks through, noting usage; record the request when the stream ends.

    Errors after the first byte propagate to the caller, which must end the
    client's stream with an explicit error event.
    """
    usage: Usage | None = None
    status = CLIENT_CLOSED
    try:
        async for chunk in stream:
            if ctx.first_chunk_at is None:
                ctx.first_chunk_at = time.perf_counter()
            if chunk.get("usage"):
                usage = usage_from_openai(chunk["usage"])
            yield chunk
        status = 200
    except GatewayError as err:
        ctx.error = err
        status = err.status
        raise
    finally:
        svc.record(ctx, model, status, usage)
        await close_stream(stream)
