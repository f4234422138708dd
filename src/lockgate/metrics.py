"""Prometheus metrics, one registry per app (never the global default registry).

Names follow the OpenTelemetry GenAI semantic conventions where one exists
(``gen_ai.client.operation.duration``, ``gen_ai.client.token.usage``,
``gen_ai.server.time_to_first_token``, with the attributes ``gen_ai.request.model``,
``gen_ai.system``, ``gen_ai.operation.name`` and ``gen_ai.token.type``), rendered with
underscores as Prometheus requires; the rest are ``lockgate_*``.

Guards report verdicts through ``ctx.notes["guards"]``, a mapping of guard name to
verdict (``"pass"``, ``"redact"``, ``"block"``...); each one is counted in
``lockgate_guard_verdicts_total``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from lockgate.chat import Usage
from lockgate.context import RequestContext
from lockgate.errors import RateLimitError

__all__ = ["Metrics"]


@dataclass(frozen=True, slots=True)
class _Children:
    duration: Any
    upstream: Any
    tokens_in: Any
    tokens_out: Any
    cost: Any
    ttft: Any
    rate: Any


_HITS = ("hit", "semantic-hit")
_BREAKER_LEVEL = {"closed": 0, "half_open": 1, "open": 2}
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80)
_OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1)
_TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144)
_RATE_BUCKETS = (1, 5, 10, 20, 40, 60, 80, 100, 150, 200, 400, 1000)
_MAX_CHILDREN = 10_000


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "lockgate_requests",
            "Requests handled, by outcome.",
            ["gen_ai_request_model", "gen_ai_system", "key", "status", "cache"],
            registry=r,
        )
        self.duration = Histogram(
            "gen_ai_client_operation_duration_seconds",
            "Total request duration as the client sees it.",
            ["gen_ai_request_model", "gen_ai_system", "gen_ai_operation_name"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.upstream_duration = Histogram(
            "lockgate_upstream_duration_seconds",
            "Time waiting on upstream providers.",
            ["gen_ai_request_model", "gen_ai_system"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.overhead = Histogram(
            "lockgate_gateway_overhead_seconds",
            "Time spent inside the gateway, upstream excluded.",
            buckets=_OVERHEAD_BUCKETS,
            registry=r,
        )
        self.ttft = Histogram(
            "gen_ai_server_time_to_first_token_seconds",
            "Time to the first streamed token.",
            ["gen_ai_request_model", "gen_ai_system"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.tokens = Histogram(
            "gen_ai_client_token_usage",
            "Tokens per request, by type (input/output).",
            ["gen_ai_request_model", "gen_ai_system", "gen_ai_token_type"],
            buckets=_TOKEN_BUCKETS,
            registry=r,
        )
        self.cost = Counter(
            "lockgate_cost_usd",
            "Spend in US dollars.",
            ["gen_ai_request_model", "key"],
            registry=r,
        )
        self.inflight = Gauge(
            "lockgate_inflight_requests", "Requests being handled now.", registry=r
        )
        self.tokens_per_second = Histogram(
            "lockgate_output_tokens_per_second",
            "Output tokens per second of generation (after the first token when streamed).",
            ["gen_ai_request_model", "gen_ai_system"],
            buckets=_RATE_BUCKETS,
            registry=r,
        )
        self.limit_rejections = Counter(
            "lockgate_limit_rejections",
            "Requests refused by the gateway's own rate limits and budgets.",
            ["gen_ai_request_model", "key", "reason"],
            registry=r,
        )
        self.guard_verdicts = Counter(
            "lockgate_guard_verdicts",
            "Guardrail verdicts, by guard.",
            ["guard", "verdict"],
            registry=r,
        )

        self.breaker_state = Gauge(
            "lockgate_breaker_state",
            "Circuit breaker state per deployment (0 closed, 1 half-open, 2 open).",
            ["deployment"],
            registry=r,
        )
        self.breaker_transitions = Counter(
            "lockgate_breaker_transitions",
            "Circuit breaker state changes.",
            ["deployment", "to"],
            registry=r,
        )
        self.cooldowns = Counter(
            "lockgate_deployment_cooldowns",
            "Deployments put to rest after an upstream 429 / Retry-After.",
            ["deployment"],
            registry=r,
        )
        self._children: dict[tuple[str, str, str], _Children] = {}
        self._request_children: dict[tuple[str, str, str, int, str], Any] = {}

    def _for(self, model: str, system: str, key: str) -> _Children:
        # labels() costs a lock and a dict walk per metric; resolve the children once.
        ident = (model, system, key)
        kids = self._children.get(ident)
        if kids is None:
            kids = _Children(
                duration=self.duration.labels(model, system, "chat"),
                upstream=self.upstream_duration.labels(model, system),
                tokens_in=self.tokens.labels(model, system, "input"),
                tokens_out=self.tokens.labels(model, system, "output"),
                cost=self.cost.labels(model, key),
                ttft=self.ttft.labels(model, system),
                rate=self.tokens_per_second.labels(model, system),
            )
            if len(self._children) < _MAX_CHILDREN:
                self._children[ident] = kids
        return kids

    def _counter(self, model: str, system: str, key: str, status: int, cache: str) -> Any:
        ident = (model, system, key, status, cache)
        child = self._request_children.get(ident)
        if child is None:
            child = self.requests.labels(model, system, key, str(status), cache)
            if len(self._request_children) < _MAX_CHILDREN:
                self._request_children[ident] = child
        return child

    def request_started(self) -> None:
        self.inflight.inc()

    def request_finished(self) -> None:
        self.inflight.dec()

    def observe(
        self, ctx: RequestContext, model: str, status: int, elapsed: float, now: float
    ) -> None:
        """Count one finished request (``ctx`` settled: usage and cost known)."""
        dep = ctx.deployment
        system = dep.provider if dep is not None else "none"
        key = ctx.principal.name or "anonymous"
        cache = ctx.cache_status or "none"
        usage = ctx.usage
        self.observe_request(
            model=model,
            system=system,
            key=key,
            status=status,
            cache=cache,
            elapsed=elapsed,
            upstream=ctx.upstream_seconds if dep is not None else None,
            usage=usage,
            cost=ctx.cost,
        )
        kids = self._for(model, system, key)
        first = ctx.first_chunk_at
        if first is not None:
            kids.ttft.observe(first - ctx.started)
        if usage is not None and usage.completion_tokens and cache not in _HITS:
            gen = (now - first) if first is not None else ctx.upstream_seconds
            if gen > 0:
                kids.rate.observe(usage.completion_tokens / gen)
        err = ctx.error
        if isinstance(err, RateLimitError):
            self.limit_rejections.labels(model, key, err.code).inc()
        guards = ctx.notes.get("guards") if ctx.notes else None
        if guards:
            for guard, verdict in guards.items():
                self.guard_verdicts.labels(str(guard), str(verdict)).inc()

    def observe_request(
        self,
        *,
        model: str,
        system: str,
        key: str,
        status: int,
        cache: str,
        elapsed: float,
        upstream: float | None,
        usage: Usage | None,
        cost: float,
    ) -> None:
        kids = self._for(model, system, key)
        self._counter(model, system, key, status, cache).inc()
        kids.duration.observe(elapsed)
        if upstream is not None:
            kids.upstream.observe(upstream)
            self.overhead.observe(max(0.0, elapsed - upstream))
        if usage is not None:
            kids.tokens_in.observe(usage.prompt_tokens)
            kids.tokens_out.observe(usage.completion_tokens)
        if cost:
            kids.cost.inc(cost)

    # BreakerListener
    def state_changed(self, name: str, old: str, new: str, now: float) -> None:
        self.breaker_state.labels(name).set(_BREAKER_LEVEL.get(str(new), 0))
        self.breaker_transitions.labels(name, str(new)).inc()

    def cooldown_started(self, name: str, seconds: float, now: float) -> None:
        self.cooldowns.labels(name).inc()

    def render(self) -> bytes:
        data: bytes = generate_latest(self.registry)
        return data
