"""OpenTelemetry tracing: a span per request, child spans per stage and upstream attempt.

Off unless configured: with ``tracing.enabled: false`` (the default) no tracer
exists and the pipeline and dispatcher skip every tracing call, so an untraced
gateway pays nothing.  When enabled, spans go to an OTLP/HTTP collector
(``endpoint``, or the standard ``OTEL_EXPORTER_OTLP_*`` environment variables)
or to the console, through a batching processor off the request path.

```yaml
tracing:
  enabled: true
  exporter: otlp                       # otlp | console
  endpoint: http://otel-collector:4318/v1/traces
  service_name: lockgate
  sample_ratio: 1.0
```

Span names and attributes follow the OpenTelemetry GenAI conventions: the
request span is ``chat {model}`` (kind SERVER), each upstream attempt is
``chat {upstream model}`` (kind CLIENT) with ``gen_ai.system``,
``gen_ai.request.model`` and, when known, ``gen_ai.usage.input_tokens`` /
``gen_ai.usage.output_tokens``; stages are ``lockgate.{stage}``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:  # the SDK loads when tracing is built, not with the config
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Tracer

__all__ = ["Tracing", "TracingSettings"]


class TracingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    exporter: Literal["otlp", "console"] = "otlp"
    #: OTLP/HTTP traces endpoint; default: the OTEL_EXPORTER_OTLP_* environment
    endpoint: str | None = None
    service_name: str = "lockgate"
    sample_ratio: float = Field(default=1.0, ge=0.0, le=1.0)


class Tracing:
    """The app's tracer provider (or none), built in the lifespan and shut down with it."""

    def __init__(self, provider: TracerProvider | None = None) -> None:
        self._provider = provider
        self.tracer: Tracer | None = (
            provider.get_tracer("lockgate") if provider is not None else None
        )

    @classmethod
    def from_settings(cls, settings: TracingSettings) -> Tracing:
        if not settings.enabled:
            return cls()
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

        exporter: SpanExporter
        if settings.exporter == "console":
            exporter = ConsoleSpanExporter()
        else:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter(endpoint=settings.endpoint)
        return cls.with_processor(
            BatchSpanProcessor(exporter),
            service_name=settings.service_name,
            sample_ratio=settings.sample_ratio,
        )

    @classmethod
    def with_processor(
        cls, processor: SpanProcessor, *, service_name: str = "lockgate", sample_ratio: float = 1.0
    ) -> Tracing:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.sampling import ParentBasedTraceIdRatio

        provider = TracerProvider(
            resource=Resource.create({"service.name": service_name}),
            sampler=ParentBasedTraceIdRatio(sample_ratio),
        )
        provider.add_span_processor(processor)
        return cls(provider)

    @classmethod
    def with_exporter(cls, exporter: SpanExporter) -> Tracing:
        """Spans exported one by one as they end (tests, debugging)."""
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor

        return cls.with_processor(SimpleSpanProcessor(exporter))

    @property
    def enabled(self) -> bool:
        return self.tracer is not None

    async def aclose(self) -> None:
        if self._provider is not None:
            self._provider.shutdown()
