"""The pipeline's terminal step: a resilient call to the alias's deployments.

The pure decisions (which deployment, whether and when to retry, fall back or give
up, breaker states, deadlines) live in :mod:`lockgate.resilience`; this module is
the async loop around them that does the waiting and the I/O.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import hashlib
import json
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import structlog
from opentelemetry.trace import SpanKind, Tracer

from lockgate.chat import ChatRequest, ChatResponse, ChatStream, Chunk, close_stream
from lockgate.context import RequestContext
from lockgate.errors import (
    GatewayError,
    UpstreamBadResponseError,
    UpstreamError,
    UpstreamTimeoutError,
)
from lockgate.events import note_failed_attempt
from lockgate.logs import mask_known
from lockgate.pipeline import Result
from lockgate.providers.base import Provider
from lockgate.providers.registry import ProviderRegistry
from lockgate.resilience import (
    Balancer,
    BreakerConfig,
    BreakerListener,
    Candidate,
    CircuitBreaker,
    Deadline,
    Fallback,
    FallbackChains,
    GiveUp,
    Lease,
    Retry,
    RetryBudget,
    RetryPlan,
    RetryPolicy,
    Timeouts,
)
from lockgate.resilience.callers import CallerListener
from lockgate.resilience.deadline import TIMEOUT_HEADER
from lockgate.resilience.quota import MinuteQuota
from lockgate.router import Router
from lockgate.settings import Deployment, RouterSettings
from lockgate.stream_watch import WatchedStream

__all__ = [
    "IDEMPOTENCY_HEADER",
    "Dispatcher",
    "EmbedSend",
    "deployment_secrets",
    "deployment_timeouts",
    "log_upstream_error",
    "send_embed",
]

log = structlog.get_logger("lockgate.upstream")

_T = TypeVar("_T")

#: a client's (or a batch line's) key, passed upstream scoped to its caller
IDEMPOTENCY_HEADER = "idempotency-key"
#: ``ctx.stage_data`` key of an ``UpstreamJournal`` (batch lines: batches/journal.py)
UPSTREAM_JOURNAL = "upstream_journal"


class UpstreamJournal(Protocol):
    """Where a request's upstream answer is written down the moment it arrives, and
    found again when the same request runs again (a batch line after a crash)."""

    def recorded(self) -> ChatResponse | None: ...

    def sending(self) -> None:
        """Written before the request leaves for the upstream; raises a GatewayError
        (with ``shared`` set: not the deployment's failure) if it must not leave."""

    def record(self, response: ChatResponse) -> None: ...


#: one upstream embeddings call to a chosen deployment
EmbedSend = Callable[[Provider, dict[str, Any], Deployment, Timeouts], Awaitable[dict[str, Any]]]

_STRATEGIES = {
    "simple-shuffle": "weighted_random",
    "weighted_random": "weighted_random",
    "least-busy": "least_inflight",
    "least_inflight": "least_inflight",
    "latency-based-routing": "latency",
    "latency": "latency",
}


def deployment_timeouts(dep: Deployment, rs: RouterSettings, stream: bool) -> Timeouts:
    p = dep.params
    total = p.stream_timeout if stream and p.stream_timeout else p.timeout
    return Timeouts(
        connect=p.connect_timeout,
        first_byte=min(total, p.first_byte_timeout or rs.first_byte_timeout) if stream else total,
        idle=p.stream_idle_timeout or rs.stream_idle_timeout,
        total=total,
    )


async def send_embed(
    provider: Provider, body: dict[str, Any], dep: Deployment, timeouts: Timeouts
) -> dict[str, Any]:
    """One embeddings call straight to the provider (no micro-batching)."""
    return await provider.embed(body, dep, timeouts)


def upstream_idempotency_key(
    ctx: RequestContext, key: str, request: ChatRequest | None = None
) -> str:
    """The client's idempotency key scoped to its caller and its request: every tenant
    reaches the upstream under the gateway's one account, so two tenants' equal keys must
    differ; and a key a client reuses for a different request (another body, streamed or
    not) must not replay the first request's answer for it (an upstream that replays a
    JSON answer to a stream request is a bad response, counted against the deployment for
    every tenant). A retry of the same request keeps the same key."""
    scope = ctx.principal.key_id or ctx.principal.kind
    digest = hashlib.sha256(f"{scope}\n{key}".encode())
    if request is not None:
        digest.update(b"\n1" if request.stream else b"\n0")
        digest.update(json.dumps(request.body, sort_keys=True, default=str).encode())
    return "lockgate-" + digest.hexdigest()[:40]


def deployment_secrets(dep: Deployment) -> list[str]:
    """The values a deployment sends upstream that must never reach a log or a client."""
    p = dep.params
    out = [v for v in p.extra_headers.values() if len(v) >= 8]
    if p.api_key is not None:
        out.append(p.api_key.get_secret_value())
    return out


def log_upstream_error(ctx: RequestContext, dep: Deployment, error: GatewayError) -> None:
    """One log line with what the upstream said (secrets masked); clients never see it."""
    if isinstance(error, UpstreamError):
        log.warning(
            "upstream attempt failed",
            request_id=ctx.request_id,
            deployment=dep.id,
            upstream_status=error.upstream_status,
            code=error.code,
            detail=mask_known(error.detail, deployment_secrets(dep))[:2000],
        )


def _chains(entries: list[dict[str, list[str]]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for item in entries:
        for src, targets in item.items():
            out.setdefault(src, []).extend(targets)
    return out


def _has_content(chunk: Chunk) -> bool:
    if chunk.get("usage") and not chunk.get("choices"):
        return True
    for choice in chunk.get("choices") or ():
        delta = choice.get("delta") or {}
        if delta.get("content") or delta.get("tool_calls") or choice.get("finish_reason"):
            return True
    return False


_EMBED_SUFFIX = "/embeddings"
#: the deployments a request's first attempt excludes (none tried yet)
_UNTRIED: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class _Table:
    """What one request routes with: swapped whole by a reload."""

    router: Router
    candidates: Mapping[str, tuple[Candidate, ...]]
    budgets: Mapping[str, RetryBudget]
    chains: FallbackChains
    #: embeddings' candidates per alias (own breakers), built on first use
    embed: dict[str, tuple[Candidate, ...]] = field(default_factory=dict)


class Dispatcher:
    """Calls the chosen deployment, retrying and falling back as the plan decides."""

    def __init__(
        self,
        router: Router,
        providers: ProviderRegistry,
        settings: RouterSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        listener: BreakerListener | None = None,
        tracer: Tracer | None = None,
    ) -> None:
        rs = settings
        self._tracer = tracer
        self._providers = providers
        self._settings = rs
        self._clock = clock
        self._rng = rng or random.Random()
        self._balancer = Balancer(_STRATEGIES[rs.routing_strategy], rng=self._rng)  # type: ignore[arg-type]
        b = rs.breaker
        breaker_cfg = BreakerConfig(
            failure_rate=b.failure_rate,
            min_calls=b.min_calls,
            window_s=b.window_seconds,
            consecutive_failures=b.consecutive_failures,
            open_s=b.open_seconds,
            half_open_probes=b.half_open_probes,
            rate_limit_is_failure=b.rate_limit_is_failure,
            per_caller=b.per_caller,
            max_callers=b.max_callers,
        )
        self._breaker_cfg = breaker_cfg
        self._by_team = b.caller_scope == "team"
        self._listener = listener
        self._caller_listener = listener if isinstance(listener, CallerListener) else None
        self.breakers: dict[str, CircuitBreaker] = {}
        self._policy = RetryPolicy(
            max_attempts=rs.num_retries + 1,
            backoff_base_s=rs.retry_backoff_base,
            backoff_cap_s=max(rs.retry_backoff_cap, rs.retry_backoff_base),
            max_retry_after_s=rs.max_retry_after,
        )
        self._table = self._build_table(router, rs, keep=set())
        self._timeouts: dict[tuple[str, bool], Timeouts] = {}

    @property
    def router(self) -> Router:
        """The router new requests use (a reload swaps it; requests in flight keep theirs)."""
        return self._table.router

    def reload(self, router: Router, settings: RouterSettings, keep: set[str]) -> None:
        """Serve ``router`` from the next request on.  Deployments in ``keep`` (same id, same
        parameters) carry their breaker, quota and balancer statistics over; fallback chains
        come from ``settings``.  Requests in flight finish with the table they started with."""
        self._table = self._build_table(router, settings, keep)
        self._timeouts = {k: t for k, t in self._timeouts.items() if k[0] in keep}

    def _build_table(self, router: Router, rs: RouterSettings, keep: set[str]) -> _Table:
        old = getattr(self, "_table", None)
        old_cands = {c.id: c for cs in old.candidates.values() for c in cs} if old else {}
        breakers: dict[str, CircuitBreaker] = {}
        candidates: dict[str, tuple[Candidate, ...]] = {}
        for alias in router.aliases:
            cands = []
            for dep in router.resolve(alias):
                prior = old_cands.get(dep.id) if dep.id in keep else None
                if prior is not None and prior.breaker is not None:
                    cands.append(prior)
                    breakers[dep.id] = prior.breaker
                    continue
                breaker = self._breaker(dep.id)
                breakers[dep.id] = breaker
                quota = None
                if dep.params.rpm is not None or dep.params.tpm is not None:
                    quota = MinuteQuota(dep.params.rpm, dep.params.tpm)
                cands.append(Candidate(dep.id, dep.params.weight, breaker, quota))
            candidates[alias] = tuple(cands)
        budgets = {
            alias: (old.budgets.get(alias) if old else None)
            or RetryBudget(
                ratio=self._settings.retry_budget_ratio,
                min_per_second=self._settings.retry_budget_min_per_second,
            )
            for alias in router.aliases
        }
        # Embedding breakers of kept deployments carry over like their chat breakers.
        for name, breaker in self.breakers.items():
            if name.endswith(_EMBED_SUFFIX) and name.removesuffix(_EMBED_SUFFIX) in keep:
                breakers[name] = breaker
        self.breakers = breakers
        chains = FallbackChains(
            fallbacks=_chains(rs.fallbacks), context_window=_chains(rs.context_window_fallbacks)
        )
        return _Table(router, candidates, budgets, chains)

    def _breaker(self, name: str) -> CircuitBreaker:
        return CircuitBreaker(
            name,
            self._breaker_cfg,
            listener=self._listener,
            caller_listener=self._caller_listener,
        )

    def _caller(self, ctx: RequestContext) -> str:
        """Who a call is for, as the breakers attribute failures: the key id (or the
        key's team), as usage rows name them; never key material."""
        p = ctx.principal
        if self._by_team and p.team:
            return "team:" + p.team
        return p.key_id or p.kind

    def _embed_cands(self, table: _Table, alias: str) -> tuple[Candidate, ...]:
        """Embeddings get their own breakers per deployment (built on first use): a failing
        /embeddings endpoint says nothing about the same deployment's chat, and the
        reverse. Quotas (the account's rpm/tpm) are shared."""
        cands = table.embed.get(alias)
        if cands is None:
            built = []
            for c in table.candidates[alias]:
                name = f"{c.id}{_EMBED_SUFFIX}"
                breaker = self.breakers.get(name)
                if breaker is None:
                    breaker = self.breakers[name] = self._breaker(name)
                built.append(Candidate(c.id, c.weight, breaker, c.quota))
            cands = table.embed[alias] = tuple(built)
        return cands

    def snapshot(self) -> dict[str, object]:
        now = self._clock()
        return {
            "breakers": {name: b.snapshot(now) for name, b in self.breakers.items()},
            "deployments": self._balancer.snapshot(now),
            "retry_budgets": {a: b.snapshot(now) for a, b in self._table.budgets.items()},
        }

    def _timeouts_for(self, dep: Deployment, stream: bool) -> Timeouts:
        key = (dep.id, stream)
        t = self._timeouts.get(key)
        if t is None:
            t = self._timeouts[key] = deployment_timeouts(dep, self._settings, stream)
        return t

    async def __call__(self, ctx: RequestContext, request: ChatRequest) -> Result:
        key = ctx.client_headers.get(IDEMPOTENCY_HEADER)
        if key:
            request = dataclasses.replace(
                request, idempotency_key=upstream_idempotency_key(ctx, key, request)
            )

        journal: UpstreamJournal | None = ctx.stage_data.get(UPSTREAM_JOURNAL)
        if journal is None and self._tracer is None:
            # The usual case: each attempt is ``_attempt``'s own coroutine (no layer).
            def direct(
                dep: Deployment, lease: Lease, timeouts: Timeouts, name: str
            ) -> Awaitable[Result]:
                return self._attempt(ctx, request, dep, lease, timeouts, name)

            return await self._run(ctx, request.model, request.stream, direct)

        async def attempt(dep: Deployment, lease: Lease, timeouts: Timeouts, name: str) -> Result:
            if journal is not None:
                answered = journal.recorded()
                if answered is not None:  # answered before a crash: not sent again
                    lease.release(self._clock())
                    ctx.notes["replayed_from_journal"] = True
                    return answered
                journal.sending()
            if self._tracer is None:
                result = await self._attempt(ctx, request, dep, lease, timeouts, name)
            else:
                result = await self._traced_attempt(ctx, request, dep, lease, timeouts, name)
            if journal is not None and isinstance(result, ChatResponse):
                journal.record(result)
            return result

        return await self._run(ctx, request.model, request.stream, attempt)

    async def embed(
        self, ctx: RequestContext, body: dict[str, Any], send: EmbedSend
    ) -> dict[str, Any]:
        """An embeddings call with the same breakers, retries and fallbacks as chat.

        ``send`` makes one upstream call to the chosen deployment (the micro-batcher, or
        the provider itself); a failed batch fails each of its callers, whose own plans
        then retry or fall back one by one.
        """

        journal: UpstreamJournal | None = ctx.stage_data.get(UPSTREAM_JOURNAL)

        async def attempt(
            dep: Deployment, lease: Lease, timeouts: Timeouts, name: str
        ) -> dict[str, Any]:
            if journal is not None:
                # A batch line: its lease is checked before each attempt leaves, as for
                # chat lines (an embeddings answer is not journalled: it costs little).
                journal.sending()
            provider = self._providers.get(dep.provider)
            started = time.perf_counter()
            try:
                result = await send(provider, body, dep, timeouts)
            finally:
                ctx.upstream_seconds += time.perf_counter() - started
            now = self._clock()
            usage = result.get("usage") or {}
            lease.used_tokens(now, int(usage.get("total_tokens") or 0))
            lease.succeeded(now)
            return result

        return await self._run(ctx, body["model"], False, attempt, self._embed_cands)

    async def _run(
        self,
        ctx: RequestContext,
        model: str,
        stream: bool,
        attempt: Callable[[Deployment, Lease, Timeouts, str], Awaitable[_T]],
        candidates: Callable[[_Table, str], tuple[Candidate, ...]] | None = None,
    ) -> _T:
        clock = self._clock
        now = clock()
        header = ctx.client_headers.get(TIMEOUT_HEADER)
        deadline = (
            None
            if header is None
            else Deadline.for_request(now, default_s=self._settings.timeout, header_value=header)
        )
        at = now + self._settings.timeout if deadline is None else deadline.at
        started = now
        table = self._table  # a reload mid-request does not change this request's routes
        router = table.router
        requested = router.group(model)
        # The retry plan (and the Deadline object) are made when the first attempt fails
        # or finds no deployment: a first attempt that answers needs neither, only the
        # request counted in its alias's retry budget, as the plan would have counted it.
        budget = table.budgets.get(requested)
        if budget is not None:
            budget.record_request(now)
        plan: RetryPlan | None = None
        caller = self._caller(ctx)
        while True:
            alias = requested if plan is None else plan.alias
            cands = table.candidates[alias] if candidates is None else candidates(table, alias)
            # One reading for the breakers' answer and the plan's decision on it: read
            # twice, a retry woken as its cool-down ends saw it cooling, then "available
            # in 0 s", which the plan took for no deployment at all (a 503 under load).
            now = clock()
            tried = _UNTRIED if plan is None else plan.tried
            lease = self._balancer.acquire(cands, exclude=tried, now=now, caller=caller)
            if lease is None:
                if plan is None:
                    plan = self._plan(requested, deadline or Deadline(started, at), table)
                decision = plan.on_unavailable(
                    now,
                    available_in=self._balancer.available_in(cands, now, caller),
                    rate_limited=self._balancer.rate_limited(cands, now),
                    caller_cut_off=self._balancer.caller_cut_off(cands, now, caller),
                )
                if isinstance(decision, GiveUp):
                    note_failed_attempt(ctx, None, decision.error, decision)
                    _log_attempt(ctx, None, 0.0, decision.error)
            else:
                if plan is not None:
                    plan.begin_attempt(lease.deployment)
                # The name the attempt serves: the client's own (a wildcard or group
                # alias resolves it to its upstream model), or a fallback alias.
                name = model if alias == requested else alias
                dep = router.deployment(name, lease.deployment)
                ctx.deployment = dep
                ctx.attempts += 1
                timeouts = self._timeouts_for(dep, stream).until(at, clock())
                began = time.perf_counter()
                try:
                    result = await attempt(dep, lease, timeouts, name)
                    _log_attempt(ctx, dep.id, began, None)
                    return result
                except GatewayError as error:
                    _log_attempt(ctx, dep.id, began, error)
                    log_upstream_error(ctx, dep, error)
                    now = clock()
                    if error.shared:
                        lease.release(now)  # already counted by another caller
                    else:
                        lease.failed(now, error)
                    if plan is None:  # the first attempt failed: the plan as it would be now
                        plan = self._plan(requested, deadline or Deadline(started, at), table)
                        plan.begin_attempt(lease.deployment)
                    can_switch = self._balancer.has_alternative(
                        cands, exclude=plan.tried, now=now, caller=caller
                    )
                    decision = plan.on_failure(error, now, can_switch=can_switch)
                    note_failed_attempt(ctx, dep.id, error, decision)
                except BaseException:
                    lease.release(clock())
                    raise
            if isinstance(decision, Retry):
                if decision.delay > 0:
                    # Backoff is time spent on the upstream's account, not lockgate's overhead.
                    waited = time.perf_counter()
                    try:
                        await asyncio.sleep(decision.delay)
                    finally:
                        ctx.upstream_seconds += time.perf_counter() - waited
            elif isinstance(decision, GiveUp):
                failure = decision.error
                if ctx.deployment is not None:
                    # Names the deployment an upstream error hint refers to.
                    failure.headers = {
                        **(failure.headers or {}),
                        "x-lockgate-deployment": ctx.deployment.id,
                    }
                if plan.total_attempts > 1:
                    # The gateway already retried: tell SDKs (openai, anthropic) not to
                    # stack their own retries on top of ours.
                    failure.headers = {**(failure.headers or {}), "x-should-retry": "false"}
                raise failure
            elif isinstance(decision, Fallback):
                ctx.notes.setdefault("fallbacks", []).append(decision.alias)

    def _plan(self, requested: str, deadline: Deadline, table: _Table) -> RetryPlan:
        """The request's retry plan, made after its start (already counted in the budget)."""
        return RetryPlan(
            requested,
            policy=self._policy,
            deadline=deadline,
            rng=self._rng,
            now=deadline.start,
            chains=table.chains,
            budget=table.budgets,
            counted=True,
        )

    async def _traced_attempt(
        self,
        ctx: RequestContext,
        request: ChatRequest,
        dep: Deployment,
        lease: Lease,
        timeouts: Timeouts,
        alias: str,
    ) -> Result:
        assert self._tracer is not None
        with self._tracer.start_as_current_span(
            f"chat {dep.params.upstream_model}",
            kind=SpanKind.CLIENT,
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.system": dep.provider,
                "gen_ai.request.model": dep.params.upstream_model,
                "lockgate.deployment": dep.id,
                "lockgate.attempt": ctx.attempts,
            },
        ) as span:
            try:
                result = await self._attempt(ctx, request, dep, lease, timeouts, alias)
            except GatewayError as error:
                span.set_attribute("error.type", type(error).__name__)
                span.set_attribute("http.response.status_code", error.status)
                raise
            usage = getattr(result, "usage", None)
            if usage is not None:
                span.set_attribute("gen_ai.usage.input_tokens", usage.prompt_tokens)
                span.set_attribute("gen_ai.usage.output_tokens", usage.completion_tokens)
            return result

    async def _attempt(
        self,
        ctx: RequestContext,
        request: ChatRequest,
        dep: Deployment,
        lease: Lease,
        timeouts: Timeouts,
        alias: str,
    ) -> Result:
        provider = self._providers.get(dep.provider)
        if alias != request.model:
            # A fallback alias: same request, that alias's deployments.
            request = dataclasses.replace(request, model=alias)
        started = time.perf_counter()
        try:
            if not request.stream:
                response = await provider.chat(request, dep, timeouts)
                now = self._clock()
                lease.used_tokens(now, response.usage.total_tokens)
                lease.succeeded(now)
                return response
            handle = await provider.stream(request, dep, timeouts)
            held = await self._first_content(handle.chunks, timeouts)
            lease.first_byte(self._clock())
        finally:
            ctx.upstream_seconds += time.perf_counter() - started
        relay = functools.partial(self._relay_end, lease, ctx, dep)
        return WatchedStream(handle.chunks, held).on_end(relay)

    async def _first_content(self, chunks: ChatStream, timeouts: Timeouts) -> list[Chunk]:
        """Read until the first chunk with content, so earlier failures can still retry."""
        held: list[Chunk] = []
        try:
            async with asyncio.timeout(timeouts.first_byte):
                async for chunk in chunks:
                    held.append(chunk)
                    if _has_content(chunk):
                        return held
        except TimeoutError:
            await close_stream(chunks)
            raise UpstreamTimeoutError(
                f"no stream content from upstream within {timeouts.first_byte} s", public=True
            ) from None
        except BaseException:
            await close_stream(chunks)
            raise
        raise UpstreamBadResponseError("upstream stream ended before any content", public=True)

    async def _relay_end(
        self,
        lease: Lease,
        ctx: RequestContext,
        dep: Deployment,
        watch: WatchedStream,
        error: BaseException | None,
    ) -> None:
        """The streamed attempt's end: its tokens and its outcome on the lease."""
        usage = watch.usage
        if usage is not None and lease.candidate.quota is not None:
            lease.used_tokens(self._clock(), usage.total_tokens)
        if error is None:
            lease.succeeded(self._clock())
        elif isinstance(error, GatewayError):
            log_upstream_error(ctx, dep, error)
            lease.failed(self._clock(), error)
        else:
            lease.release(self._clock())


def _log_attempt(
    ctx: RequestContext, deployment: str | None, began: float, error: GatewayError | None
) -> None:
    """One attempt in ``ctx.attempt_log`` (the audit record's per-attempt breakdown)."""
    ctx.attempt_log.append(
        {
            "deployment": deployment,
            "status": 200 if error is None else error.status,
            "latency_ms": round((time.perf_counter() - began) * 1000.0, 3) if began else None,
            "error": None if error is None else f"{error.code}: {error.message[:200]}",
        }
    )
