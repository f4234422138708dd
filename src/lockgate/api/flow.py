"""The walk every chat route shares: authenticate, run the pipeline, account.

Each request is recorded exactly once: when its response is complete, when it
fails, or when the client goes away (499), whether that is mid-body, while the
pipeline runs (the upstream call is cancelled), before a stream's first byte or
mid-stream.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Iterator
from typing import TypeVar, cast

from starlette.requests import Request

from lockgate.api.common import (
    CLIENT_CLOSED,
    CONTEXT_SCOPE_KEY,
    REQUEST_ID_SCOPE_KEY,
    ClientDisconnected,
    DirectRequest,
    header_map,
    presented_key,
    wait_committed,
)
from lockgate.auth.keys import Principal
from lockgate.cache.header import CacheStatus, cache_header_value
from lockgate.chat import (
    ChatRequest,
    ChatResponse,
    ChatStream,
    Chunk,
    Usage,
    close_stream,
)
from lockgate.chat_fields import check_output_limit
from lockgate.context import ApiFlavor, RequestContext
from lockgate.delivered import unanswered_usage
from lockgate.errors import GatewayError, InternalError, PermissionDeniedError
from lockgate.pipeline import Result
from lockgate.request_ids import client_request_id
from lockgate.services import Services
from lockgate.stream_watch import watched

__all__ = [
    "CLIENT_CLOSED",
    "StreamAccount",
    "abandon_stream",
    "account_stream",
    "admin_services",
    "cancel_on_disconnect",
    "left_usage",
    "recorded_failures",
    "response_headers",
    "run_chat",
    "start_context",
]

T = TypeVar("T")

#: seconds a call runs before the client's connection is watched for a hang-up
WATCH_AFTER_S = 0.05

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
    request_id = svc.request_ids.new()
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
            request.scope[CONTEXT_SCOPE_KEY] = ctx  # so a durable record is waited for
        raise
    ctx = _context(request, headers, request_id, flavor, principal)
    request.scope[CONTEXT_SCOPE_KEY] = ctx
    return ctx


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
        client_request_id=client_request_id(headers),
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
    except ClientDisconnected:
        svc.record(ctx, UNKNOWN_MODEL, CLIENT_CLOSED, None)
        raise
    except Exception:
        ctx.error = InternalError("Internal gateway error.")
        svc.record(ctx, UNKNOWN_MODEL, ctx.error.status, None)
        raise


def response_headers(ctx: RequestContext) -> dict[str, str]:
    headers = {"x-request-id": ctx.request_id, **ctx.headers}
    if ctx.client_request_id:
        headers["x-client-request-id"] = ctx.client_request_id
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
        if "prompt" in chat.body:
            chat = await svc.prompts.stage.apply(ctx, chat)
        svc.router.resolve(chat.model)
        ctx.model_label = svc.router.metric_label(chat.model)
    except GatewayError as err:
        # Unknown names are not metric labels: a client could mint them without end.
        ctx.error = err
        svc.record(ctx, UNKNOWN_MODEL, err.status, None)
        raise
    try:
        ctx.principal.check_model(chat.model)
        check_output_limit(chat.body, svc.router.output_limits.get(chat.model))
        result = await svc.pipeline(ctx, chat)
    except GatewayError as err:
        ctx.error = err
        if "x-lockgate-prompt" in ctx.headers:
            # Failures say which prompt version made them, like answers do.
            err.headers = {**(err.headers or {}), **ctx.headers}
        svc.record(ctx, chat.model, err.status, None)
        raise
    except asyncio.CancelledError:
        svc.record(ctx, chat.model, CLIENT_CLOSED, left_usage(ctx, chat))
        raise
    except Exception:
        # A bug still answers 500 (with_errors); the request must still be on record.
        ctx.error = InternalError("Internal gateway error.")
        svc.record(ctx, chat.model, ctx.error.status, None)
        raise
    if isinstance(result, ChatResponse):
        svc.record(ctx, chat.model, 200, result.usage)
    return result


async def cancel_on_disconnect(request: Request, work: Awaitable[T]) -> T:
    """Await ``work`` (the request body already read); if the client hangs up meanwhile,
    cancel it (the upstream call stops, ``run_chat`` records 499) and raise
    ``ClientDisconnected``.

    The watch starts only once the work has run for ``WATCH_AFTER_S``: a quick answer
    pays for one timer, not for a task (a client that left earlier is seen at once
    then, the server remembers the disconnect).
    """
    if isinstance(request, DirectRequest):
        # the protocol itself cancels the work (its own task: no look-up of the current
        # task per request) when the client leaves
        request.watch_client()
        try:
            return await work
        except asyncio.CancelledError:
            if not request.unwatch_client():
                raise
            asyncio.current_task().uncancel()  # type: ignore[union-attr]
            raise ClientDisconnected from None
        finally:
            request.unwatch_client()
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    gone = False
    watcher: asyncio.Task[None] | None = None

    async def watch() -> None:
        nonlocal gone
        while True:
            message = await request.receive()
            if message["type"] == "http.disconnect":
                gone = True
                task.cancel()
                return

    def start() -> None:
        nonlocal watcher
        watcher = loop.create_task(watch())

    timer = loop.call_later(WATCH_AFTER_S, start)
    try:
        return await work
    except asyncio.CancelledError:
        if not gone:
            raise
        task.uncancel()
        raise ClientDisconnected from None
    finally:
        timer.cancel()
        if watcher is not None:
            watcher.cancel()


def left_usage(ctx: RequestContext, chat: ChatRequest) -> Usage | None:
    """The usage of a request the client left before anything was delivered: the prompt's
    estimate once an upstream was sent it (``delivered.unanswered_usage``)."""
    usage = unanswered_usage(
        ctx.attempts, ctx.cache_status in ("hit", "semantic-hit"), chat.messages
    )
    if usage is not None:
        ctx.notes["usage_estimated"] = True
    return usage


async def abandon_stream(
    svc: Services, ctx: RequestContext, chat: ChatRequest, stream: ChatStream
) -> None:
    """The client left before a stream's first byte was sent: record it (the prompt the
    upstream read is charged) and stop the upstream."""
    svc.record(ctx, chat.model, CLIENT_CLOSED, left_usage(ctx, chat))
    await close_stream(stream)


class StreamAccount:
    """A chat stream's accounting, for a route that iterates ``watch`` itself (no
    generator layer of its own between the upstream's chunks and the client).

    ``watch`` notes the provider's usage and what was delivered as chunks go by; ``end``
    records the request once (with an estimate of what was delivered when the usage
    never came), closes the upstream and, with ``audit: {durability: sync}``, waits
    for the record to be committed, unless the client left.
    """

    __slots__ = ("_chat", "_ctx", "_svc", "ended", "watch")

    def __init__(
        self, svc: Services, ctx: RequestContext, chat: ChatRequest, stream: ChatStream
    ) -> None:
        self._svc = svc
        self._ctx = ctx
        self._chat = chat
        self.watch = watched(stream)
        self.ended = False

    async def end(self, status: int, error: GatewayError | None = None) -> None:
        """Record the request with ``status`` (once: later calls do nothing)."""
        if self.ended:
            return
        self.ended = True
        ctx, watch, svc = self._ctx, self.watch, self._svc
        if error is not None:
            ctx.error = error
        if ctx.first_chunk_at is None:
            ctx.first_chunk_at = watch.first_at
        usage = watch.usage
        if usage is None:
            usage = watch.delivered.usage(self._chat.messages)
            if usage is not None:
                ctx.notes["usage_estimated"] = True
            elif status == CLIENT_CLOSED:
                usage = left_usage(ctx, self._chat)
        svc.record(ctx, self._chat.model, status, usage)
        await close_stream(watch)
        if status != CLIENT_CLOSED:
            await wait_committed(ctx, svc.settings.audit.sync_timeout_seconds)


async def account_stream(
    svc: Services, ctx: RequestContext, chat: ChatRequest, stream: ChatStream
) -> AsyncIterator[Chunk]:
    """Pass chunks through, noting usage; record the request when the stream ends
    (``StreamAccount``, for routes that keep a generator of their own).

    Errors after the first byte propagate to the caller, which must end the client's
    stream with an explicit error event.
    """
    account = StreamAccount(svc, ctx, chat, stream)
    status = CLIENT_CLOSED
    error: GatewayError | None = None
    try:
        async for chunk in account.watch:
            yield chunk
        status = 200
    except GatewayError as err:
        status, error = err.status, err
        raise
    finally:
        await account.end(status, error)
