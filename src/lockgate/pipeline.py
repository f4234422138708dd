"""The request's walk: an ordered chain of stages around one terminal call.

A stage is a small object with one job.  It may look at or replace the request,
call the rest of the chain, and look at or wrap the result, which is either one
``ChatResponse`` or a ``ChatStream`` (an async iterator of chunks) for streaming
requests.  The chain is composed once when the app starts, not per request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from lockgate.chat import ChatRequest, ChatResponse, ChatStream
from lockgate.context import RequestContext

__all__ = ["Handler", "Pipeline", "Result", "Stage"]

Result = ChatResponse | ChatStream
Handler = Callable[[RequestContext, ChatRequest], Awaitable[Result]]


class Stage(Protocol):
    async def __call__(
        self, ctx: RequestContext, request: ChatRequest, call_next: Handler
    ) -> Result: ...


class Pipeline:
    def __init__(self, stages: Sequence[Stage], terminal: Handler) -> None:
        self.stages = tuple(stages)
        handler = terminal
        for stage in reversed(self.stages):
            handler = _bind(stage, handler)
        self._handler = handler

    async def __call__(self, ctx: RequestContext, request: ChatRequest) -> Result:
        return await self._handler(ctx, request)


def _bind(stage: Stage, call_next: Handler) -> Handler:
    async def handler(ctx: RequestContext, request: ChatRequest) -> Result:
        return await stage(ctx, request, call_next)

    return handler
