"""Rollout and label events: audit-log entries, Prometheus metrics and log lines.

An event is written to the tamper-evident audit log as a record with ``api="event"``
and the facts in ``notes`` (``notes.event`` names it: ``prompt.label``,
``rollout.step``, ``rollout.fail``, ``rollout.rollback``...), so the chain that keeps
every request also keeps who moved which label and why a rollout stopped.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge

from lockgate.audit.writer import AuditWriter
from lockgate.records import RecordSink, RequestRecord

__all__ = ["EventLog", "RolloutMetrics"]

log = structlog.get_logger("lockgate.rollouts")


class RolloutMetrics:
    """``lockgate_rollout_*`` on the app's registry."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        r = registry or CollectorRegistry()
        self.events = Counter(
            "lockgate_rollout_events",
            "Rollout events: start, step, pass, fail, inconclusive, rollback, promote, abort.",
            ["rollout", "kind"],
            registry=r,
        )
        self.checks = Counter(
            "lockgate_rollout_checks",
            "Rollout analysis checks, by result.",
            ["rollout", "result"],
            registry=r,
        )
        self.aborts = Counter(
            "lockgate_rollout_aborts",
            "Rollouts stopped before 100%: rolled back by their guards or aborted by hand.",
            ["rollout", "reason"],
            registry=r,
        )
        self.weight = Gauge(
            "lockgate_rollout_weight_percent",
            "Percent of the label's traffic on the new version.",
            ["rollout"],
            registry=r,
        )

    def observe(self, rollout: str, event: dict[str, Any]) -> None:
        kind = event["kind"]
        self.events.labels(rollout, kind).inc()
        if kind in ("pass", "fail", "inconclusive"):
            self.checks.labels(rollout, kind).inc()
        if kind == "rollback":
            self.aborts.labels(rollout, "guard").inc()
        elif kind == "abort":
            self.aborts.labels(rollout, "manual").inc()
        self.weight.labels(rollout).set(event.get("weight", 0.0))


class EventLog:
    def __init__(self, sinks: Sequence[RecordSink], metrics: RolloutMetrics | None = None) -> None:
        self._sinks = [s for s in sinks if isinstance(s, AuditWriter)]
        self.metrics = metrics

    def emit(
        self, kind: str, subject: str, facts: dict[str, Any], actor: str | None = None
    ) -> None:
        """Record ``kind`` about ``subject`` (a prompt or rollout name) in the audit log."""
        log.info(kind, subject=subject, actor=actor, **facts)
        if not self._sinks:
            return
        record = RequestRecord(
            request_id=f"evt_{uuid.uuid4().hex}",
            started_at=time.time(),
            api="event",
            key_id=None,
            key_name=actor,
            team=None,
            user=None,
            model=subject,
            provider=None,
            deployment=None,
            upstream_model=None,
            status=200,
            error_type=None,
            error_code=None,
            stream=False,
            prompt_tokens=0,
            completion_tokens=0,
            cached_tokens=0,
            cost_usd=0.0,
            latency_ms=0.0,
            overhead_ms=0.0,
            ttft_ms=None,
            attempts=0,
            cache=None,
            notes={"event": kind, **facts},
        )
        for sink in self._sinks:
            sink.submit(record)

    def rollout(
        self, name: str, event: dict[str, Any], facts: dict[str, Any] | None = None
    ) -> None:
        if self.metrics is not None:
            self.metrics.observe(name, event)
        self.emit(f"rollout.{event['kind']}", name, {"rollout": name, **event, **(facts or {})})
