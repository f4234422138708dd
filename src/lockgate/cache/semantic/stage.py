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
lookup, ``no-store`` the write). Any failure inside the semantic cache - index,
embedder, verifier - is a miss, never a failed request: it is counted in
``stats`` (exported as ``lockgate_semantic_errors_total``) and logged once per
kind of error.

With ``verify_sample_rate`` > 0 a sampled served hit is also sent upstream in
a background task (bounded: at most ``max_verifications`` at once, others
skipped) and the two answers compared by the embedder's similarity (or by a
``judge_model`` alias of this gateway asked "same or different?"); the
outcome feeds ``live.LiveEstimator``, which tightens the alias's operating
point when the false-hit rate's upper bound passes its budget. While an alias
(or partition) is tightened, a miss whose best candidate only the next looser
point accepts is compared with the fresh answer the same way (no extra
upstream call; with a judge, sampled at ``verify_sample_rate``), and enough
clean comparisons loosen it again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

from lockgate.cache.aggregate import StreamAggregator
from lockgate.cache.entry import CacheEntry, decode_entry, encode_entry
from lockgate.cache.errors import CacheStoreError
from lockgate.cache.policy import CACHE_HEADER, CacheControl, request_control, storable_completion
from lockgate.cache.replay import replay_stream
from lockgate.cache.semantic.live import LiveEstimator
from lockgate.cache.semantic.live_shared import SharedTallies
from lockgate.cache.semantic.partition import SemanticQuery, semantic_query
from lockgate.cache.semantic.semantic_cache import SemanticCache, SemanticResult, SemanticSettings
from lockgate.cache.semantic.verifier import OperatingPoint
from lockgate.cache.stage import team_namespace
from lockgate.chat import ChatRequest, ChatResponse, ChatStream, close_stream, usage_from_openai
from lockgate.context import RequestContext
from lockgate.pipeline import Handler, Result

__all__ = ["NOTES_KEY", "SemanticCacheStage", "SemanticStats", "judge_prompt"]

NOTES_KEY = "semantic_cache"
_PROBE_KEY = "semantic_probe"
_CACHED = ("hit", "semantic-hit")
_log = logging.getLogger("lockgate.semantic_cache")


@dataclass(slots=True)
class SemanticStats:
    lookups: int = 0
    hits: int = 0
    shadow_would_hit: int = 0
    vetoed: int = 0
    writes: int = 0
    store_errors: int = 0
    #: unexpected failures (embedder, verifier, index bugs) by exception type, all served as misses
    errors: dict[str, int] = field(default_factory=dict)
    verifications: int = 0
    verifications_skipped: int = 0
    #: marginal-band candidates of a tightened alias compared with the fresh answer
    probes: int = 0


@dataclass(slots=True)
class SemanticCacheStage:
    """``Stage`` that serves (or shadows) answers to paraphrased questions."""

    cache: SemanticCache
    aliases: Mapping[str, SemanticSettings]
    wall_clock: Callable[[], float] = time.time
    namespace: Callable[[RequestContext], str] = team_namespace
    stats: SemanticStats = field(default_factory=SemanticStats)
    live: LiveEstimator | None = None
    #: the live tallies in Redis, shared by replicas (a Redis index); else per process
    shared: SharedTallies | None = None
    rng: Callable[[], float] = random.random
    #: cosine of the fresh and the cached answer at or above which they agree
    answer_agreement: float = 0.80
    #: an alias of this gateway that judges "same answer?" instead of answer similarity
    judge_model: str | None = None
    max_verifications: int = 8
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _logged: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        if self.live is None:
            self.live = LiveEstimator(self.cache.verifier)

    def failed(self, where: str, exc: BaseException) -> None:
        """Count an unexpected failure; log the first of each kind with its traceback."""
        kind = f"{where}:{type(exc).__name__}"
        self.stats.errors[kind] = self.stats.errors.get(kind, 0) + 1
        if kind not in self._logged:
            self._logged.add(kind)
            _log.error("semantic cache %s failed; served as a miss", where, exc_info=exc)

    async def aclose(self) -> None:
        """Cancel verifications still running (call on shutdown)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.shared is not None:
            await self.shared.aclose()

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
            result = await self._lookup(ctx, query, settings, request.model)
        if result is not None and result.served and result.payload is not None:
            served = self._serve(ctx, request, result.payload, result)
            if served is not None:
                self._maybe_verify(ctx, request, query, settings, result.payload, call_next)
                return served
        response = await call_next(ctx, request)
        # Shadow mode compares the would-be hit with the real answer for free;
        # so does a tightened alias its marginal candidate (``result.probe``).
        shadow_entry = None
        # the band a probe tested: its outcome counts only while that band is current
        probe = ctx.stage_data.get(_PROBE_KEY) if result is not None and result.probe else None
        if result is not None and result.entry_id is not None and (result.shadow or probe):
            shadow_entry = result.entry_id if self._compares(settings, probe) else None
        if control.no_store and shadow_entry is None:
            return response
        vector = result.vector if result is not None else None

        async def store(completion: dict[str, Any]) -> None:
            if shadow_entry is not None:
                fresh = ChatResponse(completion).text
                self._spawn(
                    self._shadow(
                        ctx, request, query, settings, shadow_entry, fresh, call_next, probe
                    )
                )
            if control.no_store:
                return
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
            except Exception as exc:
                self.failed("store", exc)
                return
            self.stats.writes += 1

        if isinstance(response, ChatResponse):
            await store(response.body)
            return response
        return _recording(response, store)

    async def _lookup(
        self, ctx: RequestContext, query: SemanticQuery, settings: SemanticSettings, alias: str
    ) -> SemanticResult | None:
        self.stats.lookups += 1
        try:
            accept, probe = self._points(alias, query, settings)
            result = await self.cache.lookup(
                query, now=self.wall_clock(), settings=settings, accept=accept, probe=probe
            )
            if result.probe:
                ctx.stage_data[_PROBE_KEY] = probe
        except CacheStoreError:
            self.stats.store_errors += 1
            ctx.notes[NOTES_KEY] = {"error": "store unavailable"}
            return None
        except Exception as exc:
            self.failed("lookup", exc)
            ctx.notes[NOTES_KEY] = {"error": "lookup failed"}
            return None
        if result.rejected_by is not None:
            self.stats.vetoed += 1
        note: dict[str, Any] = {"score": round(result.score, 4), "served": False}
        if result.probability is not None:
            note["probability"] = round(result.probability, 4)
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

    def _points(
        self, alias: str, query: SemanticQuery, settings: SemanticSettings
    ) -> tuple[OperatingPoint | None, OperatingPoint | None]:
        """The point a hit must pass now, and the looser one a tightened alias probes."""
        if self.live is None or not self.cache.verifies(settings):
            return None, None
        if self.shared is not None:
            self.shared.maybe_refresh()
        budget = settings.max_false_hit_rate
        accept = self.live.accept_threshold(alias, query.partition, budget)
        if accept is None or settings.shadow:
            return accept, None
        return accept, self.live.probe_point(alias, query.partition, budget)

    def _compares(self, settings: SemanticSettings, probe: OperatingPoint | None) -> bool:
        """Compare an unserved candidate with the fresh answer? A shadow would-be hit
        when sampled; a probe always, unless each comparison costs a judge call."""
        if probe is not None and self.judge_model is None:
            return True
        return self._sampled(settings)

    def _sampled(self, settings: SemanticSettings) -> bool:
        return settings.verify_sample_rate > 0.0 and self.rng() < settings.verify_sample_rate

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run a verification in the background, at most ``max_verifications`` at once."""
        if len(self._tasks) >= self.max_verifications:
            self.stats.verifications_skipped += 1
            work.close()
            return
        task = asyncio.create_task(work, name="lockgate-semantic-verify")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _maybe_verify(
        self,
        ctx: RequestContext,
        request: ChatRequest,
        query: SemanticQuery,
        settings: SemanticSettings,
        payload: bytes,
        call_next: Handler,
    ) -> None:
        if self._sampled(settings):
            self._spawn(self._verify(ctx, request, query, settings, payload, call_next))

    async def _shadow(
        self,
        ctx: RequestContext,
        request: ChatRequest,
        query: SemanticQuery,
        settings: SemanticSettings,
        entry_id: str,
        fresh: str,
        call_next: Handler,
        probe: OperatingPoint | None = None,
    ) -> None:
        """A shadow would-be hit (or a probed marginal candidate) against the answer
        upstream just gave: no extra upstream call."""
        try:
            payload = await self.cache.index.fetch(query.partition, entry_id, now=self.wall_clock())
        except Exception as exc:
            self.failed("verify", exc)
            return
        if payload is not None:
            await self._verify(
                ctx, request, query, settings, payload, call_next, fresh=fresh, probe=probe
            )

    async def _verify(
        self,
        ctx: RequestContext,
        request: ChatRequest,
        query: SemanticQuery,
        settings: SemanticSettings,
        payload: bytes,
        call_next: Handler,
        *,
        fresh: str | None = None,
        probe: OperatingPoint | None = None,
    ) -> None:
        """Ask upstream the same question (unless ``fresh`` is its answer already) and compare.

        Runs after the client has its answer. ``probe``: the cached answer was not
        served (a marginal candidate of a tightened alias, below that looser point); the
        outcome may loosen it.
        """
        alias = request.model
        assert self.live is not None
        try:
            cached = ChatResponse(decode_entry(payload).completion).text
            body = {k: v for k, v in request.body.items() if k not in ("stream", "stream_options")}
            fresh_ctx = dataclasses.replace(
                ctx,
                notes={},
                headers={},
                stage_data={},
                usage=None,
                cost=0.0,
                error=None,
                deployment=None,
                attempts=0,
                cache_status="verify",
                stream=False,
                upstream_seconds=0.0,
            )
            if fresh is None:
                response = await call_next(fresh_ctx, ChatRequest(request.model, body))
                if not isinstance(response, ChatResponse):
                    await close_stream(response)
                    raise TypeError("upstream answered a non-streaming request with a stream")
                fresh = response.text
            if self.judge_model is not None:
                wrong = await self._judge(fresh_ctx, query.text, cached, fresh, call_next)
            else:
                vectors = await self.cache.embedder.embed([cached, fresh])
                wrong = bool(float(vectors[0] @ vectors[1]) < self.answer_agreement)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.live.record_error(alias, settings.max_false_hit_rate)
            self.failed("verify", exc)
            return
        budget = settings.max_false_hit_rate
        if probe is not None:
            self.stats.probes += 1
            if await self._count(alias, query.partition, budget, wrong=wrong, probe=probe):
                _log.warning(
                    "semantic cache alias %s: the looser operating point's marginal hits are"
                    " within the budget %.4f; operating point loosened",
                    alias,
                    budget,
                )
            return
        self.stats.verifications += 1
        if await self._count(
            alias, query.partition, budget, wrong=wrong, source=self.namespace(ctx)
        ):
            _log.warning(
                "semantic cache alias %s: live false-hit rate above its budget %.4f;"
                " operating point tightened",
                alias,
                settings.max_false_hit_rate,
            )

    async def _count(
        self,
        alias: str,
        partition: str,
        budget: float,
        *,
        wrong: bool,
        probe: OperatingPoint | None = None,
        source: str = "",
    ) -> bool:
        """Count a verified hit of ``source`` (the tenant) or a ``probe`` in the shared
        tallies when there are any; if Redis fails, count the failure and the outcome
        in this process alone."""
        assert self.live is not None
        if self.shared is not None:
            try:
                if probe is not None:
                    return await self.shared.record_probe(
                        alias, partition, budget, wrong=wrong, probed=probe
                    )
                return await self.shared.record(
                    alias, partition, budget, wrong=wrong, source=source
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.failed("live", exc)
        if probe is not None:
            return self.live.record_probe(alias, partition, budget, wrong=wrong, probed=probe)
        return self.live.record(alias, partition, budget, wrong=wrong, source=source)

    async def _judge(
        self, ctx: RequestContext, question: str, cached: str, fresh: str, call_next: Handler
    ) -> bool:
        """Ask the judge alias whether the two answers agree; True means the hit was wrong."""
        assert self.judge_model is not None
        prompt = judge_prompt(question, cached, fresh)
        body = {
            "model": self.judge_model,
            "temperature": 0,
            "messages": [{"role": "user", "content": prompt}],
        }
        verdict = await call_next(ctx, ChatRequest(self.judge_model, body))
        if not isinstance(verdict, ChatResponse):
            await close_stream(verdict)
            raise TypeError("the judge answered a non-streaming request with a stream")
        word = verdict.text.strip().lower()
        if word.startswith("same"):
            return False
        if word.startswith("different"):
            return True
        raise ValueError(f"the judge answered neither 'same' nor 'different': {word[:40]!r}")

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


def judge_prompt(question: str, cached: str, fresh: str) -> str:
    """What the judge alias is asked about a verified hit."""
    return (
        "Two answers were given to the same question. Do they give the same answer "
        "(the same facts, the same instructions, the same conclusion)? Reply with exactly "
        "one word: same or different.\n\n"
        f"Question:\n{question}\n\nAnswer A:\n{cached}\n\nAnswer B:\n{fresh}"
    )


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
