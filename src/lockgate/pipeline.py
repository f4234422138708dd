"""The request's walk: an ordered chain of stages around one terminal call.

A stage is a small object with one job.  It may look at or replace the request,
call the rest of the chain, and look at or wrap the result, which is either one
``ChatResponse`` or a ``ChatStream`` (an async iterator of chunks) for streaming
requests.  The chain is composed once when the app starts, not per request.

Given an ``observer`` the pipeline counts requests in flight, and given a
``tracer`` it opens the request's span and a child span per stage; with neither
the walk is the bare chain.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, StatusCode, Tracer

from lockgate.chat import (
    ChatRequest,
    ChatResponse,
    ChatStream,
    Usage,
)
from lockgate.context import RequestContext
from lockgate.stream_watch import WatchedStream, watched

__all__ = ["Handler", "InflightObserver", "Pipeline", "Result", "Stage", "stage_name"]

Result = ChatResponse | ChatStream
Handler = Callable[[RequestContext, ChatRequest], Awaitable[Result]]


class Stage(Protocol):
    async def __call__(
        self, ctx: RequestContext, request: ChatRequest, call_next: Handler
    ) -> Result: ...


class InflightObserver(Protocol):
    def request_started(self) -> None: ...

    def request_finished(self) -> None: ...


def stage_name(stage: Stage) -> str:
    """A stage's ``name`` attribute, else its class name without ``Stage``, lower-cased."""
    name = getattr(stage, "name", None)
    if isinstance(name, str):
        return name
    cls = type(stage).__name__
    return (cls[: -len("Stage")] if cls.endswith("Stage") and cls != "Stage" else cls).lower()


class Pipeline:
    def __init__(
        self,
        stages: Sequence[Stage],
        terminal: Handler,
        *,
        observer: InflightObserver | None = None,
        tracer: Tracer | None = None,
    ) -> None:
        self.stages = tuple(stages)
        self._observer = observer
        self._tracer = tracer
        handler = terminal
        for stage in reversed(self.stages):
            handler = _bind(stage, handler) if tracer is None else _traced(stage, handler, tracer)
        self._handler = handler

    async def __call__(self, ctx: RequestContext, request: ChatRequest) -> Result:
        if self._observer is None and self._tracer is None:
            return await self._handler(ctx, request)
        return await self._observed(ctx, request)

    async def _observed(self, ctx: RequestContext, request: ChatRequest) -> Result:
        obs = self._observer
        span: Span | None = None
        token: object = None
        if self._tracer is not None:
            span = self._tracer.start_span(
                f"chat {request.model}",
                kind=SpanKind.SERVER,
                start_time=int(ctx.started_wall * 1e9),
                attributes={
                    "gen_ai.operation.name": "chat",
                    "gen_ai.request.model": request.model,
                    "lockgate.request_id": ctx.request_id,
                    "lockgate.api": ctx.api,
                    "lockgate.stream": request.stream,
                },
            )
            token = otel_context.attach(trace.set_span_in_context(span))
        if obs is not None:
            obs.request_started()
        try:
            result = await self._handler(ctx, request)
        except BaseException as exc:
            if obs is not None:
                obs.request_finished()
            if span is not None:
                span.record_exception(exc)
                _end(span, ctx, exc, None)
            raise
        finally:
            if token is not None:
                otel_context.detach(token)  # type: ignore[arg-type]
        if isinstance(result, ChatResponse):
            if obs is not None:
                obs.request_finished()
            if span is not None:
                _end(span, ctx, None, result.usage)
            return result
        return _watch(result, ctx, obs, span)


def _end(span: Span, ctx: RequestContext, error: BaseException | None, usage: Usage | None) -> None:
    dep = ctx.deployment
    if dep is not None:
        span.set_attribute("gen_ai.system", dep.provider)
        span.set_attribute("gen_ai.response.model", dep.params.upstream_model)
        span.set_attribute("lockgate.deployment", dep.id)
    span.set_attribute("lockgate.attempts", ctx.attempts)
    prompt = ctx.notes.get("prompt_version")
    if prompt is not None:
        span.set_attribute("lockgate.prompt", prompt)
    if ctx.cache_status:
        span.set_attribute("lockgate.cache", ctx.cache_status)
    if usage is not None:
        span.set_attribute("gen_ai.usage.input_tokens", usage.prompt_tokens)
        span.set_attribute("gen_ai.usage.output_tokens", usage.completion_tokens)
    if error is not None:
        span.set_attribute("error.type", type(error).__name__)
        span.set_status(StatusCode.ERROR, str(error)[:200])
    span.end()


def _watch(
    stream: ChatStream, ctx: RequestContext, obs: InflightObserver | None, span: Span | None
) -> ChatStream:
    async def end(watch: WatchedStream, error: BaseException | None) -> None:
        if obs is not None:
            obs.request_finished()
        if span is not None:
            _end(span, ctx, error, watch.usage)

    return watched(stream).on_end(end)


class _Bound:
    """``stage`` with the rest of the chain bound: calling it returns the stage's own
    coroutine (no coroutine of its own per stage and request, as a wrapping ``async
    def`` would add)."""

    __slots__ = ("call_next", "stage")

    def __init__(self, stage: Stage, call_next: Handler) -> None:
        self.stage = stage
        self.call_next = call_next

    def __call__(self, ctx: RequestContext, request: ChatRequest) -> Awaitable[Result]:
        return self.stage(ctx, request, self.call_next)


def _bind(stage: Stage, call_next: Handler) -> Handler:
    return _Bound(stage, call_next)


def _traced(stage: Stage, call_next: Handler, tracer: Tracer) -> Handler:
    name = f"lockgate.{stage_name(stage)}"

    async def handler(ctx: RequestContext, request: ChatRequest) -> Result:
        with tracer.start_as_current_span(name):
            return await stage(ctx, request, call_next)

    return handler
