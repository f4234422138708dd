"""The pipeline stage of the semantic cache.

Place it right after the exact cache's ``CacheStage`` and before the resilient
call, so an exact hit never pays for an embedding::

    semantic = SemanticCacheStage(cache, aliases={"fast": SemanticSettings(shadow=True)})
    pipeline = Pipeline([..., CacheStage(exact), semantic], dispatcher)

Only aliases listed in ``aliases`` take part (opt-in). For those it:

* answers a request from a stored answer to a paraphrase, setting
  ``ctx.cache_status = "semantic-hit"`` (cost 0) and the score in
  ``ctx.notes["semantic_cache"]``; a streaming request gets the answer replayed
  as chunks;
* in shadow mode only records what it would have served
  (``ctx.notes["semantic_cache"] = {"shadow": True, "would_hit": ..., "score": ...}``)
  and always calls upstream;
* stores a fresh answer (complete, finished, not from a cache) under the
  request's partition; a streamed answer is aggregated as it passes.

The client's ``x-lockgate-cache`` controls are honoured (``no-cache`` skips the
lookup, ``no-store`` the write). Any store failure is a miss, never an error.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lockgate.cache.aggregate import StreamAggregator
from lockgate.cache.entry import CacheEntry, decode_entry, encode_entry
from lockgate.cache.errors import CacheStoreError
from lockgate.cache.policy import CACHE_HEADER, CacheControl, request_control, storable_completion
from lockgate.cache.replay import replay_stream
from lockgate.cache.semantic.partition import SemanticQuery, semantic_query
from lockgate.cache.semantic.semantic_cache import SemanticCache, SemanticResult, SemanticSettings
from lockgate.cache.stage import team_namespace
from lockgate.chat import ChatRequest, ChatResponse, ChatStream, close_stream, usage_from_openai
from lockgate.context import RequestContext
from lockgate.pipeline import Handler, Result

__all__ = ["NOTES_KEY", "SemanticCacheStage", "SemanticStats"]

NOTES_KEY = "semantic_cache"
_CACHED = ("hit", "semantic-hit")


@dataclass(slots=True)
class SemanticStats:
    lookups: int = 0
    hits: int = 0
    shadow_would_hit: int = 0
    vetoed: int = 0
    writes: int = 0
    store_errors: int = 0


@dataclass(slots=True)
class SemanticCacheStage:
    """``Stage`` that serves (or shadows) answers to paraphrased questions."""

    cache: SemanticCache
    aliases: Mapping[str, SemanticSettings]
    wall_clock: Callable[[], float] = time.time
    namespace: Callable[[RequestContext], str] = team_namespace
    stats: SemanticStats = field(default_factory=SemanticStats)

    async def __call__(
        self, ctx: RequestContext, request: ChatRequest, call_next: Handler
    ) -> Result:
        settings = self.aliases.get(request.model)
        if settings is None or ctx.cache_status in _CACHED:
            return await call_next(ctx, request)
        query = semantic_query(self.namespace(ctx), request, max_chars=settings.max_query_chars)
        if query is None:
            return await call_next(ctx, request)
        control = _control(ctx, request)
        result: SemanticResult | None = None
        if not control.no_cache or settings.shadow:
            result = await self._lookup(ctx, query, settings)
        if result is not None and result.served and result.payload is not None:
            served = self._serve(ctx, request, result.payload, result)
            if served is not None:
                return served
        response = await call_next(ctx, request)
        if control.no_store:
            return response
        vector = result.vector if result is not None else None

        async def store(completion: dict[str, Any]) -> None:
            if ctx.cache_status in _CACHED or not storable_completion(completion):
                return
            entry = CacheEntry(completion, self.wall_clock(), {"prompt": query.text})
            try:
                await self.cache.store(
                    query,
                    encode_entry(entry),
                    now=self.wall_clock(),
                    vector=vector,
                    settings=settings,
                )
            except CacheStoreError:
                self.stats.store_errors += 1
                return
            self.stats.writes += 1

        if isinstance(response, ChatResponse):
            await store(response.body)
            return response
        return _recording(response, store)

    async def _lookup(
        self, ctx: RequestContext, query: SemanticQuery, settings: SemanticSettings
    ) -> SemanticResult | None:
        self.stats.lookups += 1
        try:
            result = await self.cache.lookup(query, now=self.wall_clock(), settings=settings)
        except CacheStoreError:
            self.stats.store_errors += 1
            ctx.notes[NOTES_KEY] = {"error": "store unavailable"}
            return None
        if result.rejected_by is not None:
            self.stats.vetoed += 1
        note: dict[str, Any] = {"score": round(result.score, 4), "served": False}
        if result.rejected_by is not None:
            note["vetoed_by"] = result.rejected_by
        if result.shadow:
            note["shadow"] = True
            note["would_hit"] = result.would_hit
            if result.would_hit:
                self.stats.shadow_would_hit += 1
                note["matched"] = result.matched_text
        ctx.notes[NOTES_KEY] = note
        return result

    def _serve(
        self, ctx: RequestContext, request: ChatRequest, payload: bytes, result: SemanticResult
    ) -> Result | None:
        try:
            completion = decode_entry(payload).completion
        except CacheStoreError:
            self.stats.store_errors += 1
            return None
        self.stats.hits += 1
        ctx.cache_status = "semantic-hit"
        ctx.notes[NOTES_KEY] = {
            "score": round(result.score, 4),
            "served": True,
            "matched": result.matched_text,
        }
        if request.stream:
            return replay_stream(completion, include_usage=request.include_usage)
        return ChatResponse(completion, usage_from_openai(completion.get("usage")))


def _control(ctx: RequestContext, request: ChatRequest) -> CacheControl:
    # The exact cache stage strips the body's ``cache`` field before this stage
    # runs; it may leave the parsed control in the notes for us.
    noted = ctx.stage_data.get("cache_control")
    if isinstance(noted, CacheControl):
        return noted
    return request_control(ctx.client_headers.get(CACHE_HEADER), request.body)


async def _recording(stream: ChatStream, on_done: Callable[[dict[str, Any]], Any]) -> ChatStream:
    """Pass ``stream`` through; when it ends normally, hand its completion to ``on_done``."""
    agg = StreamAggregator()
    try:
        async for chunk in stream:
            agg.add(chunk)
            yield chunk
    finally:
        await close_stream(stream)
    if agg.finished:
        await on_done(agg.result())
