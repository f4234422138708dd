"""Everything a request needs, built once in the app's lifespan."""

from __future__ import annotations

import time
from dataclasses import dataclass

from starlette.requests import Request

from lockgate.api.common import RequestIds
from lockgate.audit.sinks import build_audit_sinks
from lockgate.auth.authenticator import Authenticator
from lockgate.auth.repository import KeyRepository
from lockgate.cache.config import build_response_cache
from lockgate.cache.response_cache import ResponseCache
from lockgate.cache.stage import CacheStage
from lockgate.chat import Usage
from lockgate.context import RequestContext
from lockgate.dispatcher import Dispatcher
from lockgate.limits import Limiter, LimitStore, create_limit_store
from lockgate.metrics import Metrics
from lockgate.pipeline import Pipeline, Stage
from lockgate.providers.registry import ProviderRegistry
from lockgate.records import RecordSink, RequestRecord
from lockgate.router import Router
from lockgate.settings import Settings
from lockgate.stages.limits import LimitsStage
from lockgate.stats import Stats
from lockgate.storage.database import Database
from lockgate.tracing import Tracing
from lockgate.usage.sinks import build_usage_sinks

__all__ = ["Services", "build_services", "services"]


@dataclass(slots=True)
class Services:
    settings: Settings
    db: Database
    keys: KeyRepository
    auth: Authenticator
    router: Router
    providers: ProviderRegistry
    pipeline: Pipeline
    dispatcher: Dispatcher
    metrics: Metrics
    stats: Stats
    request_ids: RequestIds
    limit_store: LimitStore
    cache: ResponseCache

    sinks: list[RecordSink]
    tracing: Tracing

    async def aclose(self) -> None:
        for sink in self.sinks:
            await sink.aclose()
        await self.tracing.aclose()
        await self.limit_store.aclose()
        await self.cache.store.aclose()
        await self.providers.aclose()
        await self.db.aclose()

    def record(self, ctx: RequestContext, model: str, status: int, usage: Usage | None) -> None:
        """Count one finished request in metrics and /api/stats."""
        ctx.settle(usage)
        now = time.perf_counter()
        elapsed = now - ctx.started
        self.metrics.observe(ctx, model, status, elapsed, now)
        if self.sinks:
            record = build_record(ctx, model, status, usage, elapsed)
            for sink in self.sinks:
                sink.submit(record)
        first = ctx.first_chunk_at
        self.stats.record(
            model,
            ok=status < 400,
            cache_hit=ctx.cache_status in ("hit", "semantic-hit"),
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
            cost=ctx.cost,
            latency=elapsed,
            ttft=first - ctx.started if first is not None else None,
        )


def build_record(
    ctx: RequestContext, model: str, status: int, usage: Usage | None, elapsed: float
) -> RequestRecord:
    dep = ctx.deployment
    err = ctx.error
    p = ctx.principal
    return RequestRecord(
        request_id=ctx.request_id,
        started_at=ctx.started_wall,
        api=ctx.api,
        key_id=p.key_id,
        key_name=p.name,
        team=p.team,
        user=ctx.user,
        model=model,
        provider=dep.provider if dep is not None else None,
        deployment=dep.id if dep is not None else None,
        upstream_model=dep.params.upstream_model if dep is not None else None,
        status=status,
        error_type=err.type if err is not None else None,
        error_code=err.code if err is not None else None,
        stream=ctx.stream,
        prompt_tokens=usage.prompt_tokens if usage else 0,
        completion_tokens=usage.completion_tokens if usage else 0,
        cached_tokens=usage.cached_tokens if usage else 0,
        cost_usd=ctx.cost,
        latency_ms=elapsed * 1000.0,
        overhead_ms=max(0.0, elapsed - ctx.upstream_seconds) * 1000.0,
        ttft_ms=(ctx.first_chunk_at - ctx.started) * 1000.0 if ctx.first_chunk_at else None,
        attempts=ctx.attempts,
        cache=ctx.cache_status,
        notes=ctx.notes,
        client_ip=ctx.client_ip,
        request_body=ctx.captured_request,
        response_body=ctx.captured_response,
    )


async def build_services(settings: Settings, *, tracing: Tracing | None = None) -> Services:
    tracing = tracing or Tracing.from_settings(settings.tracing)
    db = Database(settings.general_settings.database_url)
    await db.migrate()
    keys = KeyRepository(db)
    master = settings.general_settings.master_key
    auth = Authenticator(
        keys,
        master.get_secret_value() if master is not None else None,
        ttl=settings.general_settings.key_cache_ttl_seconds,
    )
    router = Router(settings.deployments())
    providers = ProviderRegistry()
    metrics = Metrics()
    dispatcher = Dispatcher(
        router, providers, settings.router_settings, listener=metrics, tracer=tracing.tracer
    )
    lim = settings.limits
    limit_store = create_limit_store(
        lim.backend or settings.general_settings.redis_url or "memory://",
        failure_mode=lim.failure_mode,
        timeout=lim.timeout_ms / 1000.0,
    )
    # Always in the chain: keys created later through the admin API may carry limits,
    # and a request nothing applies to costs a few attribute reads here.
    cache = build_response_cache(settings.cache)
    stages: list[Stage] = [LimitsStage(Limiter(limit_store, time.time), lim), CacheStage(cache)]
    pipeline = Pipeline(stages, dispatcher, observer=metrics, tracer=tracing.tracer)
    return Services(
        settings=settings,
        db=db,
        keys=keys,
        auth=auth,
        router=router,
        providers=providers,
        pipeline=pipeline,
        dispatcher=dispatcher,
        metrics=metrics,
        stats=Stats(),
        request_ids=RequestIds(),
        limit_store=limit_store,
        cache=cache,
        sinks=[*build_usage_sinks(settings, db), *build_audit_sinks(settings, db)],
        tracing=tracing,
    )


def services(request: Request) -> Services:
    """The app's services, as stored on the lifespan state."""
    svc: Services = request.state.services
    return svc
