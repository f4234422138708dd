"""The pipeline stage: exact cache lookup, coalescing and recording around ``call_next``.

Place it after auth, guards, limits and routing-checks and before the resilient
call (the dispatcher)::

    stage = CacheStage(ResponseCache(store, wall_clock=time.time, coalescer=Coalescer(),
                                     policies={"gpt-4o": AliasCachePolicy(ttl=600)}))
    pipeline = Pipeline([..., stage], dispatcher)

It strips lockgate's ``cache`` body field before the request goes on, sets
``ctx.cache_status`` (``hit``/``miss``/``bypass``, which becomes the
``x-lockgate-cache`` header) and, for a caller served by another request's
upstream call, ``ctx.notes["cache_coalesced"] = True`` and the header
``x-lockgate-coalesced: 1``.  A semantic-cache stage placed after this one
keeps its ``semantic-hit`` status, and its answers are not copied into the
exact cache.  A streaming miss waits for the first chunk before
returning, so an upstream failure before the first byte is still an ordinary
HTTP error rather than an error event inside a 200 stream.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass

from lockgate.cache.policy import CACHE_HEADER, request_control
from lockgate.cache.response_cache import BYPASS, CacheResult, ResponseCache
from lockgate.chat import ChatRequest, ChatResponse, ChatStream, Chunk, close_stream
from lockgate.context import RequestContext
from lockgate.errors import InternalError
from lockgate.pipeline import Handler, Result

__all__ = ["COALESCED_HEADER", "CacheStage", "team_namespace"]

COALESCED_HEADER = "x-lockgate-coalesced"


def team_namespace(ctx: RequestContext) -> str:
    """Tenants are teams; a key without a team is its own tenant."""
    principal = ctx.principal
    if principal.team:
        return f"team:{principal.team}"
    if principal.key_id:
        return f"key:{principal.key_id}"
    return ""


@dataclass(slots=True)
class CacheStage:
    """``Stage`` that answers from the exact cache and shares identical in-flight calls."""

    cache: ResponseCache
    namespace: Callable[[RequestContext], str] = team_namespace

    async def __call__(
        self, ctx: RequestContext, request: ChatRequest, call_next: Handler
    ) -> Result:
        plan = self.cache.plan(
            request,
            alias=request.model,
            namespace=self.namespace(ctx),
            header=ctx.client_headers.get(CACHE_HEADER),
        )
        upstream = request
        if plan.body is not request.body:
            upstream = dataclasses.replace(request, body=plan.body, native=None)
            # The body's cache field is gone from here on; later stages (the semantic
            # cache) read the client's control from the context instead.
            ctx.stage_data["cache_control"] = request_control(
                ctx.client_headers.get(CACHE_HEADER), request.body
            )

        bypass = not (plan.decision.read or plan.decision.write)
        if not request.stream:
            if bypass:
                # Nothing to look up or keep (a non-deterministic request, the usual
                # case): straight on, without the cache's closure and coroutine layers.
                self.cache.stats.bypasses += 1
                result = await call_next(ctx, upstream)
                if not isinstance(result, ChatResponse):
                    raise InternalError("a non-streaming request got a stream")
                self._note(ctx, BYPASS)
                return result

            async def call() -> ChatResponse:
                result = await call_next(ctx, upstream)
                if not isinstance(result, ChatResponse):
                    raise InternalError("a non-streaming request got a stream")
                return result

            began, before = time.perf_counter(), ctx.upstream_seconds
            response, outcome = await self.cache.complete(plan, call, may_store=_fresh(ctx))
            if outcome.coalesced:
                # Waiting on another request's upstream call is not lockgate's own time.
                ctx.upstream_seconds = before + time.perf_counter() - began
            self._note(ctx, outcome)
            return response

        if bypass:
            # Nothing to look up or keep: the stream goes on as it is, without relay layers.
            self.cache.stats.bypasses += 1
            passed = await call_next(ctx, upstream)
            if isinstance(passed, ChatResponse):
                raise InternalError("a streaming request got a complete response")
            self._note(ctx, BYPASS)
            return passed

        async def start() -> ChatStream:
            result = await call_next(ctx, upstream)
            if isinstance(result, ChatResponse):
                raise InternalError("a streaming request got a complete response")
            try:
                async for chunk in result:
                    yield chunk
            finally:
                await close_stream(result)

        began, before = time.perf_counter(), ctx.upstream_seconds
        stream, outcome = await self.cache.stream(plan, start, may_store=_fresh(ctx))
        if outcome.status == "hit":
            self._note(ctx, outcome)
            return stream
        try:
            first = await anext(stream)
        except StopAsyncIteration:
            self._note(ctx, outcome)
            return _empty()
        except BaseException:
            await close_stream(stream)
            raise
        if outcome.coalesced:
            ctx.upstream_seconds = before + time.perf_counter() - began
        self._note(ctx, outcome)
        return _prepend(first, stream)

    @staticmethod
    def _note(ctx: RequestContext, outcome: CacheResult) -> None:
        if outcome.status in ("miss", "bypass") and ctx.cache_status is not None:
            return  # a later stage (the semantic cache) already said where the answer came from
        ctx.cache_status = outcome.status
        if outcome.coalesced:
            ctx.notes["cache_coalesced"] = True
            ctx.headers[COALESCED_HEADER] = "1"


def _fresh(ctx: RequestContext) -> Callable[[], bool]:
    """Store only answers that did not themselves come from a cache further down."""

    def check() -> bool:
        return ctx.cache_status not in ("hit", "semantic-hit")

    return check


async def _empty() -> ChatStream:
    return
    yield  # pragma: no cover - makes this an async generator


async def _prepend(first: Chunk, rest: ChatStream) -> ChatStream:
    try:
        yield first
        async for chunk in rest:
            yield chunk
    finally:
        await close_stream(rest)
