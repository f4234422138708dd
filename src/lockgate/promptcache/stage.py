"""The auto_cache stage: breakpoints for Anthropic-served aliases' unmarked requests.

Sits after routing (it sees the alias that will answer) and before the response
cache.  It only flags the request (``auto_cache_ttl``): the Anthropic provider places
the marks on the body it sends (``wire.cache_marks.mark_anthropic``), so a fallback
to another provider never carries them.  A request with any ``cache_control`` of its
own is left alone: the client knows its prefix better than a rule does.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING

from lockgate.chat import ChatRequest
from lockgate.context import RequestContext
from lockgate.errors import ModelNotFoundError
from lockgate.pipeline import Handler, Result
from lockgate.promptcache.config import PromptCacheSettings
from lockgate.router import Router
from lockgate.settings import ConfigError, ModelEntry
from lockgate.wire.cache_marks import has_marks

if TYPE_CHECKING:
    from lockgate.modelconfig.live import Follower

__all__ = ["NOTES_KEY", "AutoCacheStage", "build_auto_cache", "follow_models"]

log = logging.getLogger("lockgate.prompt_cache")

NOTES_KEY = "auto_cache"


class AutoCacheStage:
    name = "auto_cache"

    def __init__(self, aliases: Collection[str], ttl: str = "5m") -> None:
        self._aliases = frozenset(aliases)
        self._ttl = ttl

    def retarget(self, aliases: Collection[str]) -> None:
        """The aliases to mark from the next request on (a live model change)."""
        self._aliases = frozenset(aliases)

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
        _check(alias, router)
    return [AutoCacheStage(settings.auto_cache, settings.ttl)]


def follow_models(stage: AutoCacheStage, settings: PromptCacheSettings) -> Follower:
    """A LiveModels hook: after a model change, breakpoints only for the configured aliases
    still served by Anthropic alone; one log line for each alias left out."""

    def prepare(model_list: Sequence[ModelEntry], router: Router) -> Callable[[], None]:
        served = []
        for alias in settings.auto_cache:
            try:
                _check(alias, router)
            except ConfigError as exc:
                log.warning("auto_cache of %r not applied after a model change: %s", alias, exc)
            else:
                served.append(alias)
        return lambda: stage.retarget(served)

    return prepare


def _check(alias: str, router: Router) -> None:
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
