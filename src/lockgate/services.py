"""Everything a request needs, built once in the app's lifespan."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from starlette.requests import Request

from lockgate.audit.headers import redacted_headers
from lockgate.audit.sinks import build_audit_sinks
from lockgate.auth.authenticator import Authenticator
from lockgate.auth.changes import KeyChangeFeed
from lockgate.auth.repository import KeyRepository
from lockgate.batches.service import BatchService, build_batches
from lockgate.cache.config import build_response_cache
from lockgate.cache.response_cache import ResponseCache
from lockgate.cache.stage import CacheStage
from lockgate.callbacks.build import build_callbacks
from lockgate.chat import Usage
from lockgate.context import ALREADY_CHARGED, RequestContext
from lockgate.context_window import alias_input_limits
from lockgate.contextbudget.factory import build_context_stages
from lockgate.contextbudget.factory import follow_models as follow_context
from lockgate.dispatcher import Dispatcher, send_embed
from lockgate.errors import ModelNotFoundError
from lockgate.evals.online import build_online_evaluator
from lockgate.events import BreakerLog
from lockgate.guards.config import GuardrailSettings, PolicyOverride
from lockgate.health import DependencyMonitor, RedisProbe
from lockgate.lifecycle import Lifecycle
from lockgate.limits import Limiter, LimitStore, create_limit_store
from lockgate.metrics import Metrics
from lockgate.modelconfig.live import LiveModels
from lockgate.modelconfig.repository import ModelRepository
from lockgate.passthrough.client import PassthroughClient
from lockgate.pipeline import Pipeline, Stage
from lockgate.pricing import (
    cost_estimator,
    cost_of,
    price_for,
    uncached_cost,
    unpriced_check,
    warn_unpriced,
)
from lockgate.promptcache.stage import NOTES_KEY as AUTO_CACHE_NOTE
from lockgate.promptcache.stage import build_auto_cache
from lockgate.promptcache.stage import follow_models as follow_auto_cache
from lockgate.prompts.service import PromptService, build_prompt_service
from lockgate.providers.embed_batching import EmbeddingBatcher
from lockgate.providers.registry import ProviderRegistry
from lockgate.records import RecordSink, RequestRecord, record_of, wants
from lockgate.request_ids import RequestIds
from lockgate.responses import ResponseStore, build_response_store
from lockgate.router import Router
from lockgate.routing.factory import build_route_stage, shared_embedder
from lockgate.serving.guard import ConnectionGuard
from lockgate.serving.metrics_listener import MetricsListener
from lockgate.settings import ConfigError, Settings
from lockgate.stages.guards import GuardStage
from lockgate.stages.limits import LimitsStage
from lockgate.stats import Stats
from lockgate.storage.database import Database
from lockgate.storage.write_priority import WriterPriority
from lockgate.token_count import TiktokenCounter
from lockgate.tracing import Tracing
from lockgate.usage.sinks import build_usage_sinks, find_usage_writer
from lockgate.usage.writer import UsageWriter

if TYPE_CHECKING:  # the semantic cache (numpy, a model) loads only when an alias uses it
    from lockgate.cache.semantic.embedder import Embedder
    from lockgate.cache.semantic.stage import SemanticCacheStage

__all__ = ["Services", "build_services", "services"]


@dataclass(slots=True)
class Services:
    settings: Settings
    db: Database
    keys: KeyRepository
    auth: Authenticator
    providers: ProviderRegistry
    pipeline: Pipeline
    dispatcher: Dispatcher
    metrics: Metrics
    stats: Stats
    request_ids: RequestIds
    limit_store: LimitStore
    cache: ResponseCache

    sinks: list[RecordSink]
    semantic: SemanticCacheStage | None
    tracing: Tracing
    responses: ResponseStore
    token_counter: TiktokenCounter
    passthrough: PassthroughClient
    prompts: PromptService
    connections: ConnectionGuard
    key_changes: KeyChangeFeed
    health: DependencyMonitor
    models: LiveModels
    metrics_listener: MetricsListener | None = None
    batches: BatchService | None = None
    lifecycle: Lifecycle = field(default_factory=Lifecycle)
    embedder: EmbeddingBatcher | None = None

    @property
    def router(self) -> Router:
        """The router new requests use (``models`` rebuilds it on a config change)."""
        return self.dispatcher.router

    async def aclose(self) -> None:
        await self.models.aclose()
        await self.prompts.aclose()
        await self.key_changes.aclose()
        await self.health.aclose()
        if self.metrics_listener is not None:
            self.metrics_listener.close()
        if self.embedder is not None:
            await self.embedder.aclose()
        if self.batches is not None:
            await self.batches.aclose()
        if self.semantic is not None:
            await self.semantic.aclose()
            await self.semantic.cache.index.close()
        for sink in self.sinks:
            await sink.aclose()
        await self.responses.aclose()
        await self.tracing.aclose()
        await self.limit_store.aclose()
        await self.cache.store.aclose()
        await self.providers.aclose()
        await self.passthrough.aclose()
        await self.db.aclose()

    def record(self, ctx: RequestContext, model: str, status: int, usage: Usage | None) -> None:
        """Count one finished request in metrics and /api/stats."""
        ctx.settle(usage)
        now = time.perf_counter()
        elapsed = now - ctx.started
        hit = ctx.cache_status in ("hit", "semantic-hit")
        saved = 0.0
        if hit and usage is not None:
            # What the answer would have cost: the alias's first deployment's price.
            saved = cost_of(price_for(self.router.resolve(model)[0]), usage)
        label = ctx.model_label or model  # bounded: a wildcard counts under its pattern
        self.metrics.observe(ctx, label, status, elapsed, now, saved)
        record: RequestRecord | None = None
        charged = ALREADY_CHARGED in ctx.notes  # its usage row exists: not a second one
        for sink in self.sinks:
            if not wants(sink, status) or (charged and isinstance(sink, UsageWriter)):
                continue
            if record is None:
                record = build_record(ctx, model, status, usage, elapsed, saved)
            pending = sink.submit(record)
            if pending is not None:
                ctx.committed = pending
        first = ctx.first_chunk_at
        self.stats.record(
            label,
            ok=status < 400,
            cache_hit=hit,
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
            cost=ctx.cost,
            latency=elapsed,
            ttft=first - ctx.started if first is not None else None,
            saved=saved,
        )
        if not hit and usage is not None and ctx.deployment is not None:
            self.stats.prompt_cache.record(
                usage,
                ctx.cost,
                uncached_cost(price_for(ctx.deployment), usage),
                auto=bool(ctx.notes.get(AUTO_CACHE_NOTE)),
            )


def build_record(
    ctx: RequestContext,
    model: str,
    status: int,
    usage: Usage | None,
    elapsed: float,
    saved: float = 0.0,
) -> RequestRecord:
    """The request's record: its values written straight in ``FIELDS`` order (the
    order of ``RequestRecord``'s fields; tests/core/test_record_build.py holds the two
    together) and made into the record by ``record_of``."""
    dep = ctx.deployment
    err = ctx.error
    p = ctx.principal
    first = ctx.first_chunk_at
    if usage:
        prompt, completion = usage.prompt_tokens, usage.completion_tokens
        cached = usage.cached_tokens
    else:
        prompt = completion = cached = 0
    return record_of(
        (
            ctx.request_id,
            ctx.started_wall,
            ctx.api,
            p.key_id,
            p.name,
            p.team,
            ctx.user,
            model,
            dep.provider if dep is not None else None,
            dep.id if dep is not None else None,
            dep.params.upstream_model if dep is not None else None,
            status,
            err.type if err is not None else None,
            err.code if err is not None else None,
            ctx.stream,
            prompt,
            completion,
            cached,
            ctx.cost,
            elapsed * 1000.0,
            max(0.0, elapsed - ctx.upstream_seconds) * 1000.0,
            (first - ctx.started) * 1000.0 if first else None,
            ctx.attempts,
            ctx.cache_status,
            ctx.notes,
            ctx.client_ip,
            ctx.client_request_id,
            saved,
            redacted_headers(ctx.client_headers),
            ctx.attempt_log or None,
            ctx.captured_request,
            ctx.captured_response,
        )
    )


async def _build_semantic(
    settings: Settings, router: Router, dispatcher: Dispatcher, shared: Embedder | None
) -> SemanticCacheStage:
    """The semantic cache stage (opt-in per alias); loading a local model takes ~1 s."""
    from lockgate.cache.semantic.config import build_semantic_stage
    from lockgate.cache.semantic.redis_index import RedisIndex

    sc = settings.semantic_cache
    if sc.judge_model is not None:
        try:
            router.resolve(sc.judge_model)
        except ModelNotFoundError as exc:
            raise ConfigError(
                f"semantic_cache.judge_model {sc.judge_model!r} is not a model alias"
            ) from exc
    if sc.embedder == "local":
        stage = await asyncio.to_thread(build_semantic_stage, sc, local=shared)
    else:
        if sc.embedding_model is None or sc.embedding_dim is None:
            raise ConfigError(
                "semantic_cache.embedder 'gateway' needs embedding_model (an alias)"
                " and embedding_dim"
            )
        alias = sc.embedding_model
        router.resolve(alias)
        from lockgate.auth.keys import Principal

        async def embed(texts: list[str]) -> list[list[float]]:
            # the gateway's own call: breakers, retries and fallbacks, no tenant's limits
            ctx = RequestContext("semantic-cache", Principal(kind="master"), "openai")
            out = await dispatcher.embed(ctx, {"model": alias, "input": texts}, send_embed)
            rows = sorted(out.get("data") or [], key=lambda d: d.get("index", 0))
            return [row["embedding"] for row in rows]

        stage = build_semantic_stage(sc, embed_fn=embed, dim=sc.embedding_dim)
    if isinstance(stage.cache.index, RedisIndex):
        await stage.cache.index.sync(now=time.time())  # warm this replica's copy
    return stage


async def build_services(
    settings: Settings, *, tracing: Tracing | None = None, config_path: str | None = None
) -> Services:
    tracing = tracing or Tracing.from_settings(settings.tracing)
    general = settings.general_settings
    db = Database(
        general.database_url,
        writer=general.database_writer,
        # requests that wait for their audit commit (durability: sync) need a writer
        # that is never idle
        priority=WriterPriority(
            idle=general.database_writer_priority == "idle"
            and not (settings.audit.enabled and settings.audit.durability == "sync"),
            starve_after=general.database_writer_starve_seconds,
        ),
    )
    # Sinks check their config (e.g. the audit body key) before any connection opens,
    # so a refused start-up leaves nothing to clean up.
    sinks: list[RecordSink] = [
        *build_usage_sinks(settings, db),
        *build_audit_sinks(settings, db),
    ]
    await db.migrate()
    keys = KeyRepository(db)
    master = settings.general_settings.master_key
    auth = Authenticator(
        keys,
        master.get_secret_value() if master is not None else None,
        ttl=settings.general_settings.key_cache_ttl_seconds,
    )
    router = Router(settings.deployments(), group_aliases=settings.router_settings.group_aliases())
    warn_unpriced(router)
    providers = ProviderRegistry()
    metrics = Metrics()
    metrics.watch_dead_letters(sinks)
    metrics.watch_writer(db.write_process)
    hooks = build_callbacks(
        settings.callbacks, settings.general_settings.redis_url, metrics.registry
    )
    sinks.extend([hooks] if hooks is not None else [])
    dispatcher = Dispatcher(
        router,
        providers,
        settings.router_settings,
        listener=BreakerLog(metrics),
        tracer=tracing.tracer,
    )
    sinks.extend(e for e in [build_online_evaluator(settings, db, dispatcher)] if e is not None)
    lim = settings.limits
    limit_store = create_limit_store(
        lim.backend or settings.general_settings.redis_url or "memory://",
        failure_mode=lim.failure_mode,
        timeout=lim.timeout_ms / 1000.0,
        memory_max_entries=lim.memory_max_entries,
        on_memory_full=metrics.limit_state_refusals.inc,
    )
    # Always in the chain: keys created later through the admin API may carry limits,
    # and a request nothing applies to costs a few attribute reads here.
    cache_settings = settings.cache
    redis_url = settings.general_settings.redis_url
    if redis_url and "url" not in cache_settings.model_fields_set:
        # general_settings.redis_url is the shared store unless the cache names its own.
        cache_settings = cache_settings.model_copy(update={"url": redis_url})
    cache = build_response_cache(cache_settings)
    token_counter = TiktokenCounter()
    shared = await shared_embedder(settings.routing, settings.semantic_cache)
    route = await build_route_stage(settings.routing, router, metrics.registry, shared)
    stages: list[Stage] = [
        GuardStage(
            _with_context_limits(settings),
            capture=(settings.audit.enabled and settings.audit.store_bodies)
            or settings.evaluation.online.enabled
            or settings.callbacks.include_bodies,
        ),
        LimitsStage(
            Limiter(limit_store, time.time),
            lim,
            unpriced_check(lambda: dispatcher.router),
            cost_estimator(lambda: dispatcher.router),
            on_spend=hooks.spent if hooks is not None and hooks.alerter is not None else None,
        ),
        *filter(None, [route]),
        *(context_stages := build_context_stages(settings, router, token_counter)),
        *(auto_cache := build_auto_cache(settings.prompt_cache, router)),
        CacheStage(cache),
    ]
    semantic: SemanticCacheStage | None = None
    if settings.semantic_cache.aliases:
        from lockgate.cache.semantic.metrics import SemanticCollector

        semantic = await _build_semantic(settings, router, dispatcher, shared)
        metrics.registry.register(SemanticCollector(semantic))
        stages.append(semantic)
    pipeline = Pipeline(stages, dispatcher, observer=metrics, tracer=tracing.tracer)
    responses = build_response_store(settings.responses, db, redis_url)
    held = [cache.store, limit_store, token_counter, responses]
    metrics.watch_memory([auth, *sinks, *stages, *held])
    writer = find_usage_writer(sinks)
    prompts = await build_prompt_service(
        settings.prompts, db, sinks, metrics.registry, writer.flush if writer else None
    )
    connections = ConnectionGuard(settings.server.http, time.monotonic, metrics.connection_rejected)
    if semantic is not None:  # requests with a complete head, not yet answered
        semantic.cache.watch_load(
            lambda: max(metrics.in_flight, connections.open - connections.idle)
        )
    key_changes = KeyChangeFeed(
        keys, auth.forget, interval=settings.general_settings.key_sync_seconds, redis_url=redis_url
    )
    await key_changes.start()
    health = DependencyMonitor({"redis": RedisProbe(redis_url)} if redis_url else {}, metrics)
    await health.start()
    metrics.connections_open.set_function(lambda: connections.open)
    models = LiveModels(
        settings, ModelRepository(db), dispatcher, config_path=config_path, redis_url=redis_url
    )
    models.restart_checks = [
        lambda new, r: build_context_stages(new, r, token_counter),
        lambda new, r: build_auto_cache(new.prompt_cache, r),
    ]
    models.followers = [follow_context(st, settings.context) for st in context_stages]
    models.followers += [follow_auto_cache(st, settings.prompt_cache) for st in auto_cache]
    await models.start()
    svc = Services(
        settings=settings,
        db=db,
        keys=keys,
        auth=auth,
        providers=providers,
        pipeline=pipeline,
        dispatcher=dispatcher,
        metrics=metrics,
        stats=Stats(),
        request_ids=RequestIds(),
        limit_store=limit_store,
        cache=cache,
        sinks=sinks,
        semantic=semantic,
        tracing=tracing,
        responses=responses,
        token_counter=token_counter,
        passthrough=PassthroughClient(),
        prompts=prompts,
        connections=connections,
        key_changes=key_changes,
        health=health,
        models=models,
        metrics_listener=MetricsListener.for_settings(metrics.registry, settings.server.http),
        batches=build_batches(settings.batches, db),
        embedder=EmbeddingBatcher(settings.embeddings, observe_wait=metrics.embedding_wait.observe),
    )
    models.on_settings = lambda new: _adopt_live_settings(svc, new)
    if route is not None:  # a reload's routing goals (`lockgate route calibrate --write`)
        models.on_routing = route.retarget
    if svc.batches is not None:
        from lockgate.batches.execute import execute_line

        svc.batches.start(
            lambda line, holds: execute_line(svc, line, holds), lambda: metrics.in_flight, svc
        )
    return svc


def _adopt_live_settings(svc: Services, new: Settings) -> None:
    """A reloaded file's live sections (lockgate.modelconfig) become the settings in force."""
    svc.settings = svc.settings.model_copy(
        update={"model_list": new.model_list, "router_settings": new.router_settings}
    )


def _with_context_limits(settings: Settings) -> GuardrailSettings:
    """The guard settings with per-alias input limits raised to the models' windows
    (only while the operator left ``guardrails.max_input_chars`` at its default)."""
    g = settings.guardrails
    if "max_input_chars" in g.model_fields_set:
        return g
    entries = [
        (e.model_name, e.params.provider, e.params.upstream_model, e.model_info)
        for e in settings.model_list
    ]
    raised = alias_input_limits(entries, g.max_input_chars)
    aliases = dict(g.aliases)
    for alias, chars in raised.items():
        own = aliases.get(alias)
        if own is None:
            aliases[alias] = PolicyOverride(max_input_chars=chars)
        elif own.max_input_chars is None:
            aliases[alias] = own.model_copy(update={"max_input_chars": chars})
    return g.model_copy(update={"aliases": aliases})


def services(request: Request) -> Services:
    """The app's services, as stored on the lifespan state (read from the scope's state
    dict, which ``request.state`` wraps, without building that wrapper per request)."""
    svc: Services = request.scope["state"]["services"]
    return svc
