"""Builds the callback sinks and the budget alerter from ``callbacks:`` settings."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import orjson
from prometheus_client import CollectorRegistry, Counter

from lockgate.callbacks.budget import AlertLedger, BudgetAlerter, MemoryLedger, RedisLedger
from lockgate.callbacks.config import CallbackSettings, RecordEvent
from lockgate.callbacks.payloads import langfuse_batch, otlp_logs, standard_payload
from lockgate.callbacks.shipper import DropListener, Encoded, RecordShipper
from lockgate.callbacks.transport import AiohttpPoster, Poster
from lockgate.records import RecordSink, RequestRecord

if TYPE_CHECKING:
    from lockgate.context import RequestContext
    from lockgate.stages.limits import SpendLevel

__all__ = [
    "CallbackHub",
    "CallbackMetrics",
    "build_budget_alerter",
    "build_callback_sinks",
    "build_callbacks",
]

_JSON = "application/json"


class CallbackMetrics:
    """lockgate_callback_sent_total / lockgate_callback_dropped_total, by sink (and reason)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.sent = Counter(
            "lockgate_callback_sent",
            "Request records and alerts delivered by the logging callbacks, by sink.",
            ["sink"],
            registry=registry,
        )
        self.dropped = Counter(
            "lockgate_callback_dropped",
            "Records and alerts the logging callbacks dropped (queue_full, rejected,"
            " send_failed, shutdown), by sink.",
            ["sink", "reason"],
            registry=registry,
        )

    def on_drop(self, sink: str, reason: str, n: int) -> None:
        self.dropped.labels(sink, reason).inc(n)

    def on_sent(self, sink: str, n: int) -> None:
        self.sent.labels(sink).inc(n)


def build_callback_sinks(
    settings: CallbackSettings,
    metrics: CallbackMetrics | None,
    poster: Callable[[float], Poster] = AiohttpPoster,
) -> list[RecordSink]:
    """One shipper per configured destination (none: an empty list)."""
    d = settings.delivery
    bodies = settings.include_bodies
    on_drop: DropListener | None = metrics.on_drop if metrics else None
    on_sent = metrics.on_sent if metrics else None
    sinks: list[RecordSink] = []

    def shipper(
        name: str,
        url: str,
        encode: Callable[[list[RequestRecord]], Encoded],
        events: list[RecordEvent],
    ) -> None:
        sinks.append(
            RecordShipper(
                name,
                url,
                encode,
                events=events,
                delivery=d,
                poster=poster(d.timeout_seconds),
                on_drop=on_drop,
                on_sent=on_sent,
            )
        )

    for hook in settings.webhooks:
        headers = {"content-type": _JSON, **hook.headers}
        if hook.log_format == "ndjson":
            headers["content-type"] = "application/x-ndjson"

            def encode(rs: list[RequestRecord], h: dict[str, str] = headers) -> Encoded:
                lines = (orjson.dumps(standard_payload(r, bodies=bodies)) for r in rs)
                return b"\n".join(lines) + b"\n", h
        else:

            def encode(rs: list[RequestRecord], h: dict[str, str] = headers) -> Encoded:
                return orjson.dumps([standard_payload(r, bodies=bodies) for r in rs]), h

        shipper(hook.name, hook.url, encode, list(hook.events))
    otel = settings.otel_logs
    if otel is not None:
        otel_headers = {"content-type": _JSON, **otel.headers}
        service = otel.service_name

        def encode_otel(rs: list[RequestRecord]) -> Encoded:
            return orjson.dumps(otlp_logs(rs, service, time.time())), otel_headers

        shipper("otel_logs", otel.logs_url, encode_otel, list(otel.events))
    lf = settings.langfuse
    if lf is not None:
        token = f"{lf.public_key}:{lf.secret_key.get_secret_value()}".encode()
        lf_headers = {
            "content-type": _JSON,
            "authorization": "Basic " + base64.b64encode(token).decode(),
        }

        def encode_langfuse(rs: list[RequestRecord]) -> Encoded:
            return orjson.dumps(langfuse_batch(rs, bodies=bodies)), lf_headers

        url = lf.host.rstrip("/") + "/api/public/ingestion"
        shipper("langfuse", url, encode_langfuse, list(lf.events))
    return sinks


def build_budget_alerter(
    settings: CallbackSettings,
    redis_url: str | None,
    metrics: CallbackMetrics | None,
    poster: Callable[[float], Poster] = AiohttpPoster,
) -> BudgetAlerter | None:
    """The budget alerter (None when no alert target is configured)."""
    alerts = settings.budget_alerts
    if alerts is None:
        return None
    ledger: AlertLedger = RedisLedger(redis_url) if redis_url else MemoryLedger()
    d = settings.delivery
    return BudgetAlerter(
        alerts,
        ledger,
        poster(d.timeout_seconds),
        on_drop=metrics.on_drop if metrics else None,
        on_sent=metrics.on_sent if metrics else None,
        retries=d.retries,
        backoff=d.retry_backoff_seconds,
        close_timeout=d.close_timeout_seconds,
    )


class CallbackHub:
    """Every callback of the app as one record sink, plus the budget alerter's hook."""

    def __init__(self, sinks: list[RecordSink], alerter: BudgetAlerter | None) -> None:
        self.sinks = sinks
        self.alerter = alerter

    def submit(self, record: RequestRecord) -> None:
        for sink in self.sinks:
            sink.submit(record)

    def spent(self, ctx: RequestContext, level: SpendLevel) -> None:
        if self.alerter is not None:
            self.alerter.spent(ctx, level)

    async def aclose(self) -> None:
        for sink in self.sinks:
            await sink.aclose()
        if self.alerter is not None:
            await self.alerter.aclose()


def build_callbacks(
    settings: CallbackSettings,
    redis_url: str | None,
    registry: CollectorRegistry,
    poster: Callable[[float], Poster] = AiohttpPoster,
) -> CallbackHub | None:
    """The app's callbacks (None when the config names none)."""
    if not settings.record_sinks and settings.budget_alerts is None:
        return None
    metrics = CallbackMetrics(registry)
    return CallbackHub(
        build_callback_sinks(settings, metrics, poster),
        build_budget_alerter(settings, redis_url, metrics, poster),
    )
