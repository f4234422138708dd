"""The ``callbacks:`` section: where request records and budget alerts go.

LiteLLM's spelling (``litellm_settings.callbacks``, ``callback_settings``,
``general_settings.alerting``) is translated into this section when the file is
loaded, see :mod:`lockgate.callbacks.litellm`.  Written out::

    callbacks:
      webhooks:
        - {name: lake, url: https://logs.example/ingest, headers: {Authorization: Bearer x}}
      otel_logs: {endpoint: http://collector:4318}
      langfuse: {host: https://cloud.langfuse.com, public_key: pk-lf-..., secret_key: sk-lf-...}
      budget_alerts:
        targets: [{url: https://hooks.slack.com/services/..., format: slack}]
        thresholds: [0.5, 0.8, 1.0]
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

__all__ = [
    "AlertTarget",
    "BudgetAlertSettings",
    "CallbackSettings",
    "Delivery",
    "LangfuseSink",
    "OtelLogsSink",
    "RecordEvent",
    "WebhookSink",
]

#: LiteLLM's event names: a request answered (status < 400) or not
RecordEvent = Literal["llm_api_success", "llm_api_failure"]
Subject = Literal["key", "team", "user", "ip", "model"]
_ALL_EVENTS: list[RecordEvent] = ["llm_api_success", "llm_api_failure"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Delivery(_Model):
    """How records travel: batched, from a bounded queue, never on the request path."""

    batch_size: int = Field(default=100, ge=1, le=10_000)
    flush_interval_seconds: float = Field(default=2.0, gt=0)
    #: records waiting at most; beyond it new ones are dropped and counted
    max_queue: int = Field(default=10_000, ge=1)
    timeout_seconds: float = Field(default=10.0, gt=0)
    #: further tries of a batch after a connection error, 429 or 5xx (then dropped, counted)
    retries: int = Field(default=3, ge=0, le=10)
    retry_backoff_seconds: float = Field(default=0.5, ge=0)
    #: on shutdown, how long queued records may still take to send
    close_timeout_seconds: float = Field(default=5.0, ge=0)


def _http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError("must be an http:// or https:// URL")
    return value


class WebhookSink(_Model):
    """Records as JSON to any HTTP endpoint (LiteLLM's ``generic_api`` callback)."""

    name: str = "webhook"
    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    events: list[RecordEvent] = Field(default_factory=lambda: list(_ALL_EVENTS))
    #: json_array: one POST holds a JSON list; ndjson: one record per line
    log_format: Literal["json_array", "ndjson"] = "json_array"

    _url = field_validator("url")(_http_url)


class OtelLogsSink(_Model):
    """Records as OpenTelemetry log records over OTLP/HTTP (JSON encoding)."""

    #: the collector's base URL (``/v1/logs`` is appended) or the full logs URL
    endpoint: str = "http://localhost:4318"
    headers: dict[str, str] = Field(default_factory=dict)
    service_name: str = "lockgate"
    events: list[RecordEvent] = Field(default_factory=lambda: list(_ALL_EVENTS))

    _url = field_validator("endpoint")(_http_url)

    @property
    def logs_url(self) -> str:
        base = self.endpoint.rstrip("/")
        return base if base.endswith("/v1/logs") else f"{base}/v1/logs"


class LangfuseSink(_Model):
    """Records as Langfuse traces with one generation each (its public ingestion API)."""

    host: str = "https://cloud.langfuse.com"
    public_key: str
    secret_key: SecretStr
    events: list[RecordEvent] = Field(default_factory=lambda: list(_ALL_EVENTS))

    _url = field_validator("host")(_http_url)


class AlertTarget(_Model):
    url: str
    #: slack: {"text", "blocks"} (Slack, and Discord's /slack, Mattermost, Teams
    #: workflows accept it); webhook: a JSON event in LiteLLM's WebhookEvent shape
    format: Literal["slack", "webhook"] = "slack"
    headers: dict[str, str] = Field(default_factory=dict)

    _url = field_validator("url")(_http_url)


class BudgetAlertSettings(_Model):
    """An alert when a spend budget reaches each threshold, once per budget period."""

    targets: list[AlertTarget] = Field(min_length=1)
    #: shares of the budget, e.g. [0.5, 0.8, 1.0] = 50 %, 80 % and 100 %
    thresholds: list[float] = Field(default_factory=lambda: [0.5, 0.8, 1.0], min_length=1)
    #: whose budgets: the limit subjects of limits: (key, team, user, ip, model)
    subjects: list[Subject] = Field(default_factory=lambda: list[Subject](["key", "team"]))

    @field_validator("thresholds")
    @classmethod
    def _shares(cls, value: list[float]) -> list[float]:
        if any(not 0 < t <= 10 for t in value):
            raise ValueError("each threshold is a share of the budget above 0, e.g. 0.8")
        return sorted(set(value))


class CallbackSettings(_Model):
    webhooks: list[WebhookSink] = Field(default_factory=list)
    otel_logs: OtelLogsSink | None = None
    langfuse: LangfuseSink | None = None
    delivery: Delivery = Field(default_factory=Delivery)
    #: send request and response bodies when they are captured (audit.store_bodies
    #: or this flag turns capture on; guards have redacted them first)
    include_bodies: bool = False
    budget_alerts: BudgetAlertSettings | None = None

    @property
    def record_sinks(self) -> bool:
        return bool(self.webhooks or self.otel_logs or self.langfuse)
