"""The auto_cache stage: breakpoints for Anthropic-served aliases' unmarked requests.

Sits after routing (it sees the alias that will answer) and before the response
cache.  A request that carries any ``cache_control`` of its own is left alone: the
client knows its prefix better than a rule does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from typing import Any

from lockgate.chat import ChatRequest
from lockgate.context import RequestContext
from lockgate.errors import ModelNotFoundError
from lockgate.pipeline import Handler, Result
from lockgate.promptcache.breakpoints import has_marks, mark_anthropic, mark_canonical
from lockgate.promptcache.config import PromptCacheSettings
from lockgate.providers.anthropic import native_anthropic
from lockgate.router import Router
from lockgate.settings import ConfigError

__all__ = ["NOTES_KEY", "AutoCacheStage", "build_auto_cache"]

NOTES_KEY = "auto_cache"


class AutoCacheStage:
    name = "auto_cache"

    def __init__(self, aliases: Collection[str], ttl: str = "5m") -> None:
        self._aliases = frozenset(aliases)
        self._mark: dict[str, Any] = {"type": "ephemeral"}
        if ttl != "5m":
            self._mark["ttl"] = ttl

    def apply(self, request: ChatRequest) -> ChatRequest:
        """``request`` with breakpoints on its stable prefix (itself if it had marks)."""
        native = native_anthropic(request)
        if native is not None:
            body = mark_anthropic(native.body, self._mark)
            if body is native.body:
                return request
            return dataclasses.replace(request, native=dataclasses.replace(native, body=body))
        if request.native is not None and has_marks(request.native.body):
            return request  # an Anthropic client's own marks, on a rewritten request
        body = mark_canonical(request.body, self._mark)
        return request if body is request.body else dataclasses.replace(request, body=body)

    async def __call__(
        self, ctx: RequestContext, request: ChatRequest, call_next: Handler
    ) -> Result:
        if request.model not in self._aliases:
            return await call_next(ctx, request)
        marked = self.apply(request)
        if marked is not request:
            ctx.notes[NOTES_KEY] = True
        return await call_next(ctx, marked)


def build_auto_cache(settings: PromptCacheSettings, router: Router) -> list[AutoCacheStage]:
    """The stage, if some alias asks for it; every such alias must be Anthropic-served
    (a mark sent to another provider would be an error there)."""
    if not settings.auto_cache:
        return []
    for alias in settings.auto_cache:
        try:
            deployments = router.resolve(alias)
        except ModelNotFoundError:
            raise ConfigError(f"prompt_cache.auto_cache: unknown model_name {alias!r}") from None
        others = sorted({d.provider for d in deployments if d.provider != "anthropic"})
        if others:
            raise ConfigError(
                f"prompt_cache.auto_cache: {alias!r} is also served by {', '.join(others)};"
                " breakpoints are for aliases served by Anthropic only"
            )
    return [AutoCacheStage(settings.auto_cache, settings.ttl)]
