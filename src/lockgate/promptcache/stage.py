"""The auto_cache stage: breakpoints for Anthropic-served aliases' unmarked requests.

Sits after routing (it sees the alias that will answer) and before the response
cache.  It only flags the request (``auto_cache_ttl``): the Anthropic provider places
the marks on the body it sends (``wire.cache_marks.mark_anthropic``), so a fallback
to another provider never carries them.  A request with any ``cache_control`` of its
own is left alone: the client knows its prefix better than a rule does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection

from lockgate.chat import ChatRequest
from lockgate.context import RequestContext
from lockgate.errors import ModelNotFoundError
from lockgate.pipeline import Handler, Result
from lockgate.promptcache.config import PromptCacheSettings
from lockgate.router import Router
from lockgate.settings import ConfigError
from lockgate.wire.cache_marks import has_marks

__all__ = ["NOTES_KEY", "AutoCacheStage", "build_auto_cache"]

NOTES_KEY = "auto_cache"


class AutoCacheStage:
    name = "auto_cache"

    def __init__(self, aliases: Collection[str], ttl: str = "5m") -> None:
        self._aliases = frozenset(aliases)
        self._ttl = ttl

    async def __call__(
        self, ctx: RequestContext, request: ChatRequest, call_next: Handler
    ) -> Result:
        if request.model in self._aliases and not _client_marked(request):
            ctx.notes[NOTES_KEY] = True
            request = dataclasses.replace(request, auto_cache_ttl=self._ttl)
        return await call_next(ctx, request)


def _client_marked(request: ChatRequest) -> bool:
    native = request.native
    return has_marks(request.body) or (native is not None and has_marks(native.body))


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
