"""The pipeline's terminal step: send the request to a deployment's provider."""

from __future__ import annotations

import time

from lockgate.chat import ChatRequest, ChatStream, Chunk
from lockgate.context import RequestContext
from lockgate.errors import UpstreamBadResponseError
from lockgate.pipeline import Result
from lockgate.providers.base import AttemptTimeouts
from lockgate.providers.registry import ProviderRegistry
from lockgate.router import Router
from lockgate.settings import Deployment

__all__ = ["Dispatcher", "attempt_timeouts"]


def attempt_timeouts(dep: Deployment, stream: bool) -> AttemptTimeouts:
    total = (
        dep.params.stream_timeout if stream and dep.params.stream_timeout else dep.params.timeout
    )
    return AttemptTimeouts(
        connect=dep.params.connect_timeout, first_byte=total, idle=total, total=total
    )


class Dispatcher:
    def __init__(self, router: Router, providers: ProviderRegistry) -> None:
        self._router = router
        self._providers = providers
        self._timeouts: dict[tuple[str, bool], AttemptTimeouts] = {}

    async def __call__(self, ctx: RequestContext, request: ChatRequest) -> Result:
        deployment = self._router.choose(request.model)
        ctx.deployment = deployment
        ctx.attempts += 1
        provider = self._providers.get(deployment.provider)
        timeouts = self._timeouts.get((deployment.id, request.stream))
        if timeouts is None:
            timeouts = attempt_timeouts(deployment, request.stream)
            self._timeouts[(deployment.id, request.stream)] = timeouts
        started = time.perf_counter()
        try:
            if not request.stream:
                return await provider.chat(request, deployment, timeouts)
            handle = await provider.stream(request, deployment, timeouts)
            # Hold the answer until the first chunk, so a failure before any byte
            # reached the client can still become a clean error response.
            try:
                first = await anext(handle.chunks)
            except StopAsyncIteration:
                raise UpstreamBadResponseError("upstream stream ended before any chunk") from None
            return _prepend(first, handle.chunks)
        finally:
            ctx.upstream_seconds += time.perf_counter() - started


async def _prepend(first: Chunk, rest: ChatStream) -> ChatStream:
    try:
        yield first
        async for chunk in rest:
            yield chunk
    finally:
        aclose = getattr(rest, "aclose", None)
        if aclose is not None:
            await aclose()
