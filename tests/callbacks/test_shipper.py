"""Record shipping: payload shapes, batching, retries and drops against a real receiver."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from tests.callbacks.receiver import Receiver

from lockgate.callbacks.build import build_callback_sinks
from lockgate.callbacks.config import CallbackSettings, Delivery
from lockgate.callbacks.payloads import langfuse_batch, otlp_logs, standard_payload
from lockgate.callbacks.shipper import RecordShipper
from lockgate.callbacks.transport import AiohttpPoster
from lockgate.records import RequestRecord


def record(i: int = 0, status: int = 200, **kw: Any) -> RequestRecord:
    base: dict[str, Any] = {
        "request_id": f"req-{i}",
        "started_at": 1_795_000_000.0 + i,
        "api": "openai",
        "key_id": "key_1",
        "key_name": "team-a-key",
        "team": "a",
        "user": "u1",
        "model": "gpt-4o-mini",
        "provider": "openai",
        "deployment": "gpt-4o-mini#0",
        "upstream_model": "gpt-4o-mini-2024-07-18",
        "status": status,
        "error_type": None if status < 400 else "upstream_error",
        "error_code": None if status < 400 else "bad_gateway",
        "stream": False,
        "prompt_tokens": 12,
        "completion_tokens": 30,
        "cached_tokens": 0,
        "cost_usd": 0.0021,
        "latency_ms": 420.0,
        "overhead_ms": 3.0,
        "ttft_ms": 120.0,
        "attempts": 1,
        "cache": None,
    }
    base.update(kw)
    return RequestRecord(**base)


class Counts:
    def __init__(self) -> None:
        self.dropped: Counter[tuple[str, str]] = Counter()
        self.sent: Counter[str] = Counter()

    def on_drop(self, sink: str, reason: str, n: int) -> None:
        self.dropped[(sink, reason)] += n

    def on_sent(self, sink: str, n: int) -> None:
        self.sent[sink] += n


def shipper(url: str, counts: Counts, **delivery: Any) -> RecordShipper:
    d = Delivery(**{"flush_interval_seconds": 0.05, "retry_backoff_seconds": 0.01, **delivery})

    def encode(rs: list[RequestRecord]) -> tuple[bytes, dict[str, str]]:
        return json.dumps([r.request_id for r in rs]).encode(), {"content-type": "application/json"}

    return RecordShipper(
        "test",
        url,
        encode,
        events=["llm_api_success", "llm_api_failure"],
        delivery=d,
        poster=AiohttpPoster(5.0),
        on_drop=counts.on_drop,
        on_sent=counts.on_sent,
    )


def test_otlp_payload_is_a_valid_export_logs_request() -> None:
    """The OTLP JSON parses into opentelemetry-proto's ExportLogsServiceRequest."""
    payload = otlp_logs([record(0), record(1, status=502)], "lockgate", 1_795_000_010.0)
    msg = json_format.Parse(json.dumps(payload), ExportLogsServiceRequest())
    logs = msg.resource_logs[0].scope_logs[0].log_records
    assert len(logs) == 2
    assert msg.resource_logs[0].resource.attributes[0].value.string_value == "lockgate"
    attrs = {a.key: a.value for a in logs[0].attributes}
    assert attrs["gen_ai.request.model"].string_value == "gpt-4o-mini"
    assert attrs["gen_ai.usage.input_tokens"].int_value == 12
    assert attrs["lockgate.cost_usd"].double_value == 0.0021
    assert logs[0].time_unix_nano == 1_795_000_000 * 10**9
    assert (logs[0].severity_text, logs[1].severity_text) == ("INFO", "ERROR")


def test_standard_payload_and_langfuse_events() -> None:
    """LiteLLM-shaped webhook records; Langfuse gets a trace and a generation per request."""
    p = standard_payload(record(3, status=429), bodies=False)
    assert p["status"] == "failure" and p["model_group"] == "gpt-4o-mini"
    assert p["metadata"]["user_api_key_alias"] == "team-a-key"
    assert p["total_tokens"] == 42 and p["messages"] is None
    lf = langfuse_batch([record(1, request_body={"messages": []})], bodies=True)
    types = [e["type"] for e in lf["batch"]]
    assert types == ["trace-create", "generation-create"]
    gen = lf["batch"][1]["body"]
    assert gen["traceId"] == "req-1" and gen["usageDetails"]["input"] == 12
    assert gen["input"] == {"messages": []} and gen["startTime"].endswith("Z")


async def test_batches_arrive_in_order(receiver: Receiver) -> None:
    """Records go out in batches of at most batch_size, in submission order."""
    counts = Counts()
    s = shipper(receiver.url + "/hook", counts, batch_size=4)
    for i in range(10):
        s.submit(record(i))
    await s.aclose()
    batches = [r.json() for r in receiver.received]
    assert all(len(b) <= 4 for b in batches)
    assert [x for b in batches for x in b] == [f"req-{i}" for i in range(10)]
    assert counts.sent["test"] == 10 and not counts.dropped


async def test_retries_server_errors_then_delivers(receiver: Receiver) -> None:
    """A 503 and a 429 are retried; the batch arrives once."""
    receiver.statuses.extend([503, 429])
    counts = Counts()
    s = shipper(receiver.url, counts, batch_size=100, retries=3)
    s.submit(record(0))
    await s.aclose()
    assert len(receiver.received) == 3
    assert counts.sent["test"] == 1 and not counts.dropped


async def test_refused_and_failed_batches_are_counted(receiver: Receiver) -> None:
    """A 400 drops the batch at once (rejected); endless 500s drop it after the retries."""
    receiver.statuses.extend([400, 500, 500, 500])
    counts = Counts()
    s = shipper(receiver.url, counts, batch_size=1, retries=2)
    s.submit(record(0))
    s.submit(record(1))
    await s.aclose()
    assert counts.dropped == {("test", "rejected"): 1, ("test", "send_failed"): 1}
    assert len(receiver.received) == 4  # 1 refused + 3 tries


async def test_full_queue_drops_and_never_blocks(receiver: Receiver) -> None:
    """With the receiver hanging, submit still returns at once; overflow is counted."""
    receiver.hold = asyncio.Event()
    counts = Counts()
    s = shipper(receiver.url, counts, batch_size=1, max_queue=3, close_timeout_seconds=0.2)
    for i in range(10):
        assert s.submit(record(i)) is None
    assert s.pending <= 3
    await asyncio.sleep(0.1)  # the background task takes one batch into the hanging POST
    await s.aclose()
    dropped = counts.dropped
    assert dropped[("test", "queue_full")] >= 6
    assert dropped[("test", "queue_full")] + dropped[("test", "shutdown")] == 10


async def test_unreachable_receiver_is_send_failed() -> None:
    """Connection refused counts as a failed send after the retries."""
    from tests.conftest import free_port

    counts = Counts()
    s = shipper(f"http://127.0.0.1:{free_port()}", counts, retries=1)
    s.submit(record(0))
    await s.aclose()
    assert counts.dropped == {("test", "send_failed"): 1}


async def test_event_filter_and_ndjson(receiver: Receiver) -> None:
    """A success-only webhook skips failures; ndjson sends one record per line."""
    settings = CallbackSettings.model_validate(
        {
            "webhooks": [
                {
                    "name": "ok-only",
                    "url": receiver.url + "/ok",
                    "events": ["llm_api_success"],
                    "log_format": "ndjson",
                }
            ],
            "delivery": {"flush_interval_seconds": 0.05},
        }
    )
    (sink,) = build_callback_sinks(settings, None)
    sink.submit(record(0))
    sink.submit(record(1, status=500))
    sink.submit(record(2))
    await sink.aclose()
    (got,) = receiver.received
    assert got.headers["Content-Type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in got.body.decode().splitlines()]
    assert [x["id"] for x in lines] == ["req-0", "req-2"]
