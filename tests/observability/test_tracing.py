"""Traces: a span per request, children for the stages and for each upstream attempt."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from tests.fakes import Fault, ThreadedFake, start_in_thread
from tests.support import bearer

from lockgate.tracing import Tracing, TracingSettings


@pytest.fixture(scope="module")
def fake() -> Iterator[ThreadedFake]:
    """A fake OpenAI-wire provider for this module."""
    with start_in_thread() as server:
        yield server


def _tree(spans: tuple[ReadableSpan, ...]) -> dict[str, list[str]]:
    """span name -> names of its children, in start order."""
    by_id = {s.context.span_id: s for s in spans}
    out: dict[str, list[str]] = {s.name: [] for s in spans}
    for s in sorted(spans, key=lambda s: s.start_time or 0):
        if s.parent is not None and s.parent.span_id in by_id:
            out[by_id[s.parent.span_id].name].append(s.name)
    return out


async def test_request_span_with_stage_and_attempt_children(make_settings, open_gateway):
    """chat {alias} (SERVER) > guard > limits > cache > chat {upstream} (CLIENT)."""
    mem = InMemorySpanExporter()
    gw = await open_gateway(make_settings(), Tracing.with_exporter(mem))
    r = await gw.chat("priced", "trace me")
    assert r.status_code == 200
    spans = mem.get_finished_spans()
    assert sorted(s.name for s in spans) == sorted(
        ["chat priced", "lockgate.guard", "lockgate.limits", "lockgate.cache", "chat mock-1"]
    )
    assert _tree(spans) == {
        "chat priced": ["lockgate.guard"],
        "lockgate.guard": ["lockgate.limits"],
        "lockgate.limits": ["lockgate.cache"],
        "lockgate.cache": ["chat mock-1"],
        "chat mock-1": [],
    }
    root = next(s for s in spans if s.name == "chat priced")
    attempt = next(s for s in spans if s.name == "chat mock-1")
    assert root.parent is None and root.kind == SpanKind.SERVER
    assert len({s.context.trace_id for s in spans}) == 1
    assert root.attributes["lockgate.request_id"] == r.headers["x-request-id"]
    assert root.attributes["gen_ai.request.model"] == "priced"
    assert root.attributes["gen_ai.system"] == "mock"
    assert root.attributes["gen_ai.usage.output_tokens"] == r.json()["usage"]["completion_tokens"]
    assert attempt.kind == SpanKind.CLIENT
    assert attempt.attributes["gen_ai.request.model"] == "mock-1"
    assert attempt.attributes["gen_ai.usage.input_tokens"] == r.json()["usage"]["prompt_tokens"]


async def test_each_upstream_attempt_is_a_span(make_settings, open_gateway, fake):
    """A 503 then a success: two CLIENT spans under the cache stage, the first an error."""
    fake.reset()
    fake.push_fault(Fault.error(503))
    models = [
        {
            "model_name": "gpt",
            "params": {
                "model": "openai/gpt-4o-mini",
                "api_base": fake.openai_base_url,
                "api_key": "sk-upstream",
            },
        }
    ]
    mem = InMemorySpanExporter()
    settings = make_settings(models, router_settings={"retry_backoff_base": 0})
    gw = await open_gateway(settings, Tracing.with_exporter(mem))
    r = await gw.chat("gpt", "retry")
    assert r.status_code == 200
    spans = mem.get_finished_spans()
    attempts = sorted(
        (s for s in spans if s.kind == SpanKind.CLIENT), key=lambda s: s.start_time or 0
    )
    assert [s.name for s in attempts] == ["chat gpt-4o-mini", "chat gpt-4o-mini"]
    assert [s.attributes["lockgate.attempt"] for s in attempts] == [1, 2]
    assert attempts[0].status.status_code == StatusCode.ERROR
    assert attempts[0].attributes["http.response.status_code"] == 503
    assert attempts[1].status.status_code != StatusCode.ERROR
    assert _tree(spans)["lockgate.cache"] == ["chat gpt-4o-mini", "chat gpt-4o-mini"]
    root = next(s for s in spans if s.name == "chat gpt")
    assert root.attributes["lockgate.attempts"] == 2


async def test_stream_and_cache_hit_spans(make_settings, open_gateway):
    """A stream's span ends with the stream; a cache hit has no upstream span."""
    mem = InMemorySpanExporter()
    gw = await open_gateway(make_settings(), Tracing.with_exporter(mem))
    r = await gw.client.post(
        "/v1/chat/completions",
        headers=bearer(),
        json={
            "model": "priced",
            "stream": True,
            "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": "s"}],
        },
    )
    assert r.status_code == 200
    names = [s.name for s in mem.get_finished_spans()]
    assert sorted(names) == sorted(
        ["chat priced", "lockgate.guard", "lockgate.limits", "lockgate.cache", "chat mock-1"]
    )
    root = next(s for s in mem.get_finished_spans() if s.name == "chat priced")
    assert root.attributes["lockgate.stream"] is True
    assert root.attributes["gen_ai.usage.output_tokens"] > 0
    mem.clear()
    for _ in range(2):
        assert (await gw.chat("free", "cached", temperature=0)).status_code == 200
    spans = mem.get_finished_spans()
    roots = [s for s in spans if s.name == "chat free"]
    assert [s.attributes.get("lockgate.cache") for s in roots] == ["miss", "hit"]
    assert sum(1 for s in spans if s.kind == SpanKind.CLIENT) == 1


async def test_failed_request_span_is_an_error(make_settings, open_gateway):
    """A request refused by a limit ends its span with an error status and type."""
    mem = InMemorySpanExporter()
    gw = await open_gateway(make_settings(), Tracing.with_exporter(mem))
    created = await gw.client.post(
        "/admin/keys", headers=bearer(), json={"name": "one", "limits": {"requests": "1/minute"}}
    )
    key = created.json()["key"]
    assert (await gw.chat("priced", "a", key=key)).status_code == 200
    assert (await gw.chat("priced", "a", key=key)).status_code == 429
    roots = [s for s in mem.get_finished_spans() if s.name == "chat priced"]
    assert roots[-1].status.status_code == StatusCode.ERROR
    assert roots[-1].attributes["error.type"] == "LimitRejectedError"


def test_disabled_tracing_has_no_tracer():
    """By default there is no tracer at all (the pipeline skips every tracing call)."""
    assert Tracing.from_settings(TracingSettings()).tracer is None
    assert Tracing.from_settings(TracingSettings(enabled=True, exporter="console")).enabled
