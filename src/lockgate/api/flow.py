"""The walk every chat route shares: authenticate, run the pipeline, account.

Each request is recorded exactly once: when its response is complete, when it
fails, or (streams) when the client goes away.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

from starlette.requests import Request

from lockgate.api.common import presented_key
from lockgate.chat import ChatRequest, ChatResponse, ChatStream, Chunk, Usage, usage_from_openai
from lockgate.context import ApiFlavor, RequestContext
from lockgate.errors import GatewayError
from lockgate.pipeline import Result
from lockgate.services import Services

__all__ = ["CLIENT_CLOSED", "account_stream", "response_headers", "run_chat", "start_context"]

#: nginx's status for "client closed the connection", used in metrics for cancelled streams.
CLIENT_CLOSED = 499
UNKNOWN_MODEL = "(unknown)"


async def start_context(request: Request, svc: Services, flavor: ApiFlavor) -> RequestContext:
    """Authenticate (before any other work) and open the request's context."""
    principal = await svc.auth.authenticate(presented_key(request))
    return RequestContext(
        request_id=svc.request_ids.new(request),
        principal=principal,
        api=flavor,
        client_headers=request.headers,
        client_ip=request.client.host if request.client else None,
    )


def response_headers(ctx: RequestContext) -> dict[str, str]:
    headers = {"x-request-id": ctx.request_id, **ctx.headers}
    headers["x-lockgate-overhead-ms"] = f"{ctx.overhead_ms():.3f}"
    dep = ctx.deployment
    if dep is not None:
        headers["x-lockgate-model"] = dep.params.upstream_model
        headers["x-lockgate-provider"] = dep.provider
        headers["x-lockgate-deployment"] = dep.id
    if ctx.attempts > 1:
        headers["x-lockgate-attempts"] = str(ctx.attempts)
    if ctx.cache_status:
        headers["x-lockgate-cache"] = ctx.cache_status
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
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()
