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

import time
from bisect import bisect_left
from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import metrics as prometheus_metrics
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

from lockgate.context import RequestContext
from lockgate.errors import RateLimitError
from lockgate.storage.dead_letter import DeadLetter
from lockgate.storage.record_queue import QueueBound
from lockgate.storage.write_process import WriteProcess

__all__ = ["MemoryCollector", "Metrics"]


_HITS = ("hit", "semantic-hit")
_BREAKER_LEVEL = {"closed": 0, "half_open": 1, "open": 2}
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80)
_OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1)
_TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144)
_RATE_BUCKETS = (1, 5, 10, 20, 40, 60, 80, 100, 150, 200, 400, 1000)
_WAIT_BUCKETS = (0.0005, 0.001, 0.002, 0.004, 0.006, 0.008, 0.01, 0.015, 0.025, 0.05, 0.1)
_MAX_CHILDREN = 10_000
#: label sets of finished requests whose children are kept together (below)
_MAX_ROWS = 2_000


class _Row:
    """The children one finished request's labels (model, system, key, status, cache)
    observe, each resolved through ``Metrics._child`` the first time it is observed (so
    /metrics still shows no empty series): one lookup a request instead of one a series."""

    __slots__ = (
        "cost",
        "duration",
        "requests",
        "tokens_in",
        "tokens_out",
        "tps",
        "ttft",
        "upstream",
    )

    def __init__(self) -> None:
        self.requests: Any = None
        self.duration: Any = None
        self.upstream: Any = None
        self.tokens_in: Any = None
        self.tokens_out: Any = None
        self.cost: Any = None
        self.ttft: Any = None
        self.tps: Any = None


class _LoopCounter(Counter):
    """A ``Counter`` whose children are counted by the event loop's thread only: a plain
    float instead of a value behind a lock (every request counts a few of these)."""

    def _metric_init(self) -> None:
        self._count = 0.0
        self._created = time.time()

    def inc(self, amount: float = 1, exemplar: dict[str, str] | None = None) -> None:
        if amount < 0:
            raise ValueError("Counters can only be incremented by non-negative amounts.")
        self._count += amount

    def reset(self) -> None:
        self._count = 0.0
        self._created = time.time()

    def _child_samples(self) -> Iterable[Sample]:
        sample = Sample("_total", {}, self._count, None, None)
        if prometheus_metrics._use_created:
            return (sample, Sample("_created", {}, self._created, None, None))
        return (sample,)


class _LoopHistogram(Histogram):
    """A ``Histogram`` observed by the event loop's thread only: one bisect into plain
    per-bucket counts instead of a walk over locked values; the same samples at scrape."""

    def _metric_init(self) -> None:
        self._counts = [0.0] * len(self._upper_bounds)
        self._total = 0.0
        self._created = time.time()

    def observe(self, amount: float, exemplar: dict[str, str] | None = None) -> None:
        # the first bucket whose upper bound is >= amount (the last one is +Inf)
        self._counts[bisect_left(self._upper_bounds, amount)] += 1.0
        self._total += amount

    def _child_samples(self) -> Iterable[Sample]:
        samples = []
        acc = 0.0
        for bound, count in zip(self._upper_bounds, self._counts, strict=True):
            acc += count
            le = floatToGoString(bound)  # type: ignore[no-untyped-call]
            samples.append(Sample("_bucket", {"le": le}, acc, None, None))
        samples.append(Sample("_count", {}, acc, None, None))
        samples.append(Sample("_sum", {}, self._total, None, None))
        if prometheus_metrics._use_created:
            samples.append(Sample("_created", {}, self._created, None, None))
        return tuple(samples)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = _LoopCounter(
            "lockgate_requests",
            "Requests handled, by outcome.",
            ["gen_ai_request_model", "gen_ai_system", "key", "status", "cache"],
            registry=r,
        )
        self.duration = _LoopHistogram(
            "gen_ai_client_operation_duration_seconds",
            "Total request duration as the client sees it.",
            ["gen_ai_request_model", "gen_ai_system", "gen_ai_operation_name"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.upstream_duration = _LoopHistogram(
            "lockgate_upstream_duration_seconds",
            "Time waiting on upstream providers.",
            ["gen_ai_request_model", "gen_ai_system"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.overhead = _LoopHistogram(
            "lockgate_gateway_overhead_seconds",
            "Time spent inside the gateway, upstream excluded.",
            buckets=_OVERHEAD_BUCKETS,
            registry=r,
        )
        self.ttft = _LoopHistogram(
            "gen_ai_server_time_to_first_token_seconds",
            "Time to the first streamed token.",
            ["gen_ai_request_model", "gen_ai_system"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.tokens = _LoopHistogram(
            "gen_ai_client_token_usage",
            "Tokens per request, by type (input/output).",
            ["gen_ai_request_model", "gen_ai_system", "gen_ai_token_type"],
            buckets=_TOKEN_BUCKETS,
            registry=r,
        )
        self.cost = _LoopCounter(
            "lockgate_cost_usd",
            "Spend in US dollars.",
            ["gen_ai_request_model", "key"],
            registry=r,
        )
        self.cache_saved = _LoopCounter(
            "lockgate_cache_saved_usd",
            "What answers served from the exact or semantic cache would have cost upstream.",
            ["gen_ai_request_model"],
            registry=r,
        )
        #: the gauge's value, cheap to read on every batch line (the batch runner yields)
        self.in_flight = 0
        self.inflight = Gauge(
            "lockgate_inflight_requests", "Requests being handled now.", registry=r
        )
        self.inflight.set_function(lambda: self.in_flight)
        self.tokens_per_second = _LoopHistogram(
            "lockgate_output_tokens_per_second",
            "Output tokens per second of generation (after the first token when streamed).",
            ["gen_ai_request_model", "gen_ai_system"],
            buckets=_RATE_BUCKETS,
            registry=r,
        )
        self.limit_rejections = _LoopCounter(
            "lockgate_limit_rejections",
            "Requests refused by the gateway's own rate limits and budgets.",
            ["gen_ai_request_model", "key", "reason"],
            registry=r,
        )
        self.embedding_wait = Histogram(
            "lockgate_embedding_batch_wait_seconds",
            "Time an embeddings call waited for its micro-batch to be sent upstream.",
            buckets=_WAIT_BUCKETS,
            registry=r,
        )
        self.guard_verdicts = _LoopCounter(
            "lockgate_guard_verdicts",
            "Guardrail verdicts, by guard.",
            ["guard", "verdict"],
            registry=r,
        )
        self.guard_reasons = _LoopCounter(
            "lockgate_guard_flags",
            "Guardrail verdicts that acted, by guard, action and reason (rule:<family> or model).",
            ["guard", "action", "reason"],
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
        self.breaker_caller_opened = Counter(
            "lockgate_breaker_caller_opened",
            "A caller's own breaker on a deployment opened (that caller alone cut off),"
            " by caller (key id or team:<name>).",
            ["deployment", "caller"],
            registry=r,
        )
        self.breaker_callers = Gauge(
            "lockgate_breaker_callers",
            "Callers with recent failures tracked per deployment (capped by max_callers).",
            ["deployment"],
            registry=r,
        )
        self.dead_lettered = Counter(
            "lockgate_records_dead_lettered",
            "Usage or audit rows the database refused, kept in the dead-letter file.",
            ["sink"],
            registry=r,
        )
        self.limit_state_refusals = Counter(
            "lockgate_limit_state_refusals",
            "Requests refused (503 limit_state_full) because the in-process limit store"
            " (memory://) was full and held nothing for their key, user or IP.",
            registry=r,
        )
        self.records_spilled = Counter(
            "lockgate_records_spilled",
            "Usage or audit records beyond the writer's in-memory bound (records or bytes)"
            " or unwritten at shutdown, kept in the dead-letter file instead.",
            ["sink"],
            registry=r,
        )
        self.records_dropped = Counter(
            "lockgate_records_dropped",
            "Usage or audit records lost: neither in the database nor in the dead-letter file"
            " (queue_full, shutdown, dead_letter_unwritable).",
            ["sink", "reason"],
            registry=r,
        )
        self.cooldowns = Counter(
            "lockgate_deployment_cooldowns",
            "Deployments put to rest after an upstream 429 / Retry-After.",
            ["deployment"],
            registry=r,
        )
        self.unpriced = _LoopCounter(
            "lockgate_unpriced_requests",
            "Requests served by a deployment of unknown price (counted as $0).",
            ["deployment"],
            registry=r,
        )
        self.prompt_requests = _LoopCounter(
            "lockgate_prompt_requests",
            "Requests rendered from a registry prompt, by resolved version and variant.",
            ["prompt", "version", "variant", "status"],
            registry=r,
        )
        self.connections_rejected = Counter(
            "lockgate_connections_rejected",
            "Clients cut off by the listener's protection (timeouts, caps, header limits).",
            ["reason"],
            registry=r,
        )
        self.connections_open = Gauge(
            "lockgate_connections_open", "Open client connections (this process).", registry=r
        )
        self.dependency_up = Gauge(
            "lockgate_dependency_up",
            "Whether a shared dependency answered at the last check (1) or not (0).",
            ["dependency"],
            registry=r,
        )
        self.dependency_outages = Counter(
            "lockgate_dependency_outages",
            "Outages of a shared dependency seen by this process.",
            ["dependency"],
            registry=r,
        )
        self.writer_restarts = Counter(
            "lockgate_writer_restarts",
            "Database writer processes started again after one died or stopped answering.",
            registry=r,
        )
        self.writer_priority_switches = Counter(
            "lockgate_writer_priority_switches",
            "Database writer process switched between idle priority and normal (lifted"
            " when a batch waited too long; back to idle once caught up).",
            ["to"],
            registry=r,
        )
        self.writer_backlog = Gauge(
            "lockgate_writer_backlog_seconds",
            "Age of the oldest batch waiting for, or in, the database writer process.",
            registry=r,
        )
        self.writer_idle = Gauge(
            "lockgate_writer_idle",
            "Whether the database writer process runs at idle priority now (1) or not (0).",
            registry=r,
        )
        self._kids: dict[tuple[Any, tuple[str, ...]], Any] = {}
        self._rows: dict[tuple[str, str, str, int, str], _Row] = {}
        self._max_rows = _MAX_ROWS
        self._memory_holders: list[object] = [self]

    def memory_sizes(self) -> list[tuple[str, int, int]]:
        """(name, entries, bytes or 0): the memo of labelled metric children, and of
        finished requests' label sets (each holding some of those children)."""
        return [("metric_children", len(self._kids), 0), ("metric_rows", len(self._rows), 0)]

    def watch_memory(self, holders: Iterable[object]) -> None:
        """Report the size of every in-memory cache, memo and queue among ``holders``
        (objects with a ``memory_sizes()`` method; others are skipped)."""
        self.registry.register(MemoryCollector(self._memory_holders))
        self._memory_holders.extend(h for h in holders if hasattr(h, "memory_sizes"))

    def watch_dead_letters(self, sinks: Iterable[object]) -> None:
        """Count rows the record sinks had to put in their dead-letter files, and records
        beyond their queues' bounds (spilled to that file, or dropped)."""
        for sink in sinks:
            dead_letter = getattr(sink, "dead_letter", None)
            if isinstance(dead_letter, DeadLetter):
                dead_letter.listener = self._dead_lettered
            bound = getattr(sink, "bound", None)
            if isinstance(bound, QueueBound):
                bound.listener = self._queue_overflow

    def watch_writer(self, process: WriteProcess | None) -> None:
        """Count restarts of the database's writer process (when batches are written in
        one), its switches of priority, and show its backlog and mode."""
        if process is not None:
            process.listener = self.writer_restarts.inc
            priority = process.priority
            priority.listener = lambda mode: self.writer_priority_switches.labels(mode).inc()
            self.writer_backlog.set_function(process.backlog_seconds)
            self.writer_idle.set_function(lambda: 1.0 if priority.mode == "idle" else 0.0)

    def _queue_overflow(self, sink: str, outcome: str, n: int) -> None:
        if outcome == "spilled":
            self.records_spilled.labels(sink).inc(n)
        else:
            self.records_dropped.labels(sink, outcome.removeprefix("dropped:")).inc(n)

    def _dead_lettered(self, sink: str, rows: int) -> None:
        self.dead_lettered.labels(sink).inc(rows)

    def _child(self, metric: Any, *labels: str) -> Any:
        # labels() costs a lock and a dict walk per metric; resolve each child once,
        # and only when first observed, so /metrics shows no empty series.
        ident = (metric, labels)
        child = self._kids.get(ident)
        if child is None:
            child = metric.labels(*labels)
            if len(self._kids) < _MAX_CHILDREN:
                self._kids[ident] = child
        return child

    def request_started(self) -> None:
        self.in_flight += 1  # the gauge reads it at scrape

    def request_finished(self) -> None:
        self.in_flight -= 1

    def observe(
        self,
        ctx: RequestContext,
        model: str,
        status: int,
        elapsed: float,
        now: float,
        saved: float = 0.0,
    ) -> None:
        """Count one finished request (``ctx`` settled: usage and cost known)."""
        child = self._child
        dep = ctx.deployment
        system = dep.provider if dep is not None else "none"
        key = ctx.principal.name or "anonymous"
        cache = ctx.cache_status or "none"
        ident = (model, system, key, status, cache)
        row = self._rows.get(ident)
        if row is None:
            row = _Row()
            if len(self._rows) < self._max_rows:
                self._rows[ident] = row
        if row.requests is None:
            row.requests = child(self.requests, model, system, key, str(status), cache)
        row.requests.inc()
        if row.duration is None:
            row.duration = child(self.duration, model, system, "chat")
        row.duration.observe(elapsed)
        upstream = ctx.upstream_seconds
        if dep is not None:
            if row.upstream is None:
                row.upstream = child(self.upstream_duration, model, system)
            row.upstream.observe(upstream)
        self.overhead.observe(max(0.0, elapsed - upstream))
        usage = ctx.usage
        if usage is not None:
            if row.tokens_in is None:
                row.tokens_in = child(self.tokens, model, system, "input")
                row.tokens_out = child(self.tokens, model, system, "output")
            row.tokens_in.observe(usage.prompt_tokens)
            row.tokens_out.observe(usage.completion_tokens)
        if ctx.cost:
            if row.cost is None:
                row.cost = child(self.cost, model, key)
            row.cost.inc(ctx.cost)
        elif not ctx.priced and dep is not None:
            child(self.unpriced, dep.id).inc()
        first = ctx.first_chunk_at
        if first is not None:
            if row.ttft is None:
                row.ttft = child(self.ttft, model, system)
            row.ttft.observe(first - ctx.started)
        if usage is not None and usage.completion_tokens and cache not in _HITS:
            gen = (now - first) if first is not None else upstream
            if gen > 0:
                if row.tps is None:
                    row.tps = child(self.tokens_per_second, model, system)
                row.tps.observe(usage.completion_tokens / gen)
        err = ctx.error
        if isinstance(err, RateLimitError):
            child(self.limit_rejections, model, key, err.code).inc()
        guards = ctx.notes.get("guards") if ctx.notes else None
        if guards:
            for guard, verdict in guards.items():
                # The label is the action taken (pass, flag, block, redact...), never the
                # verdict's details: scores would mint a new series per request.
                action = verdict.get("action", "unknown") if isinstance(verdict, dict) else verdict
                child(self.guard_verdicts, str(guard), str(action)).inc()
                reason = verdict.get("reason") if isinstance(verdict, dict) else None
                if reason is not None and action != "pass":
                    child(self.guard_reasons, str(guard), str(action), str(reason)).inc()
        if saved:
            child(self.cache_saved, model).inc(saved)
        prompt = ctx.notes.get("prompt") if ctx.notes else None
        if prompt:
            variant = str(prompt.get("variant") or "")
            name, version = str(prompt["name"]), str(prompt["version"])
            child(self.prompt_requests, name, version, variant, str(status)).inc()

    # OutageListener
    def dependency_changed(self, name: str, up: bool) -> None:
        self.dependency_up.labels(name).set(1 if up else 0)
        if not up:
            self.dependency_outages.labels(name).inc()

    def connection_rejected(self, reason: str) -> None:
        self.connections_rejected.labels(reason).inc()

    # BreakerListener
    def state_changed(self, name: str, old: str, new: str, now: float) -> None:
        self.breaker_state.labels(name).set(_BREAKER_LEVEL.get(str(new), 0))
        self.breaker_transitions.labels(name, str(new)).inc()

    def cooldown_started(self, name: str, seconds: float, now: float) -> None:
        self.cooldowns.labels(name).inc()

    # CallerListener
    def caller_state_changed(self, name: str, caller: str, old: str, new: str, now: float) -> None:
        if new == "open":
            self.breaker_caller_opened.labels(name, caller).inc()

    def callers_tracked(self, name: str, count: int) -> None:
        self.breaker_callers.labels(name).set(count)

    def render(self) -> bytes:
        data: bytes = generate_latest(self.registry)
        return data


class MemoryCollector(Collector):
    """``lockgate_memory_entries`` and ``lockgate_memory_bytes`` per cache, read at scrape.

    Each holder's ``memory_sizes()`` gives ``(name, entries, bytes)``; bytes are the
    characters or bytes the holder counts itself (0: bounded by entries only).
    """

    def __init__(self, holders: list[object]) -> None:
        self._holders = holders

    def collect(self) -> Iterable[GaugeMetricFamily]:
        entries = GaugeMetricFamily(
            "lockgate_memory_entries",
            "Entries held by an in-process cache, memo or queue (each bounded).",
            labels=["cache"],
        )
        size = GaugeMetricFamily(
            "lockgate_memory_bytes",
            "Bytes (or characters of text) an in-process cache or memo counts against its bound.",
            labels=["cache"],
        )
        for holder in self._holders:
            for name, count, nbytes in holder.memory_sizes():  # type: ignore[attr-defined]
                entries.add_metric([name], count)
                if nbytes:
                    size.add_metric([name], nbytes)
        yield entries
        yield size
