"""Pure formatting of request records for each destination (no I/O).

* :func:`standard_payload`: one record in the shape of LiteLLM's
  ``StandardLoggingPayload`` (what its ``generic_api`` webhooks receive), with
  lockgate's own facts under ``"lockgate"``;
* :func:`otlp_logs`: a batch as an OTLP/HTTP ``ExportLogsServiceRequest`` in the
  protocol's JSON encoding (opentelemetry-proto's field names);
* :func:`langfuse_batch`: a batch as Langfuse ingestion events, a trace and a
  generation per request, with ids derived from the request id so that a retried
  batch updates rather than duplicates.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from lockgate.callbacks.config import RecordEvent
from lockgate.records import RequestRecord

__all__ = ["event_of", "langfuse_batch", "otlp_logs", "standard_payload"]


def event_of(record: RequestRecord) -> RecordEvent:
    return "llm_api_success" if record.status < 400 else "llm_api_failure"


def _iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat().replace("+00:00", "Z")


def _ended(record: RequestRecord) -> float:
    return record.started_at + record.latency_ms / 1000.0


def standard_payload(record: RequestRecord, *, bodies: bool) -> dict[str, Any]:
    """One record as LiteLLM's StandardLoggingPayload (the fields a receiver reads)."""
    ok = record.status < 400
    first = record.started_at + record.ttft_ms / 1000.0 if record.ttft_ms is not None else None
    return {
        "id": record.request_id,
        "trace_id": record.request_id,
        "call_type": "acompletion",
        "status": "success" if ok else "failure",
        "response_cost": record.cost_usd,
        "prompt_tokens": record.prompt_tokens,
        "completion_tokens": record.completion_tokens,
        "total_tokens": record.prompt_tokens + record.completion_tokens,
        "startTime": record.started_at,
        "endTime": _ended(record),
        "completionStartTime": first,
        "model": record.upstream_model or record.model,
        "model_group": record.model,
        "model_id": record.deployment,
        "custom_llm_provider": record.provider,
        "cache_hit": record.cache in ("hit", "semantic-hit"),
        "stream": record.stream,
        "metadata": {
            "user_api_key_hash": record.key_id,
            "user_api_key_alias": record.key_name,
            "user_api_key_team_id": record.team,
            "user_api_key_end_user_id": record.user,
            "requester_ip_address": record.client_ip,
        },
        "end_user": record.user,
        "error_str": None if ok else (record.error_code or record.error_type),
        "error_information": None
        if ok
        else {"error_code": str(record.status), "error_class": record.error_type},
        "messages": record.request_body if bodies else None,
        "response": record.response_body if bodies else None,
        "lockgate": {
            "api": record.api,
            "http_status": record.status,
            "error_code": record.error_code,
            "latency_ms": record.latency_ms,
            "overhead_ms": record.overhead_ms,
            "ttft_ms": record.ttft_ms,
            "attempts": record.attempts,
            "cached_tokens": record.cached_tokens,
            "cache": record.cache,
            "client_request_id": record.client_request_id,
            "notes": record.notes,
        },
    }


def _attr(key: str, value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    if isinstance(value, float):
        return {"key": key, "value": {"doubleValue": value}}
    return {"key": key, "value": {"stringValue": str(value)}}


def _severity(status: int) -> tuple[int, str]:
    if status >= 500:
        return 17, "ERROR"
    if status >= 400:
        return 13, "WARN"
    return 9, "INFO"


def _log_record(record: RequestRecord, observed_ns: int) -> dict[str, Any]:
    number, text = _severity(record.status)
    pairs = [
        ("event.name", "lockgate.request"),
        ("gen_ai.operation.name", "chat"),
        ("gen_ai.request.model", record.model),
        ("gen_ai.response.model", record.upstream_model),
        ("gen_ai.system", record.provider),
        ("gen_ai.usage.input_tokens", record.prompt_tokens),
        ("gen_ai.usage.output_tokens", record.completion_tokens),
        ("http.response.status_code", record.status),
        ("error.type", record.error_type),
        ("lockgate.request_id", record.request_id),
        ("lockgate.api", record.api),
        ("lockgate.key_name", record.key_name),
        ("lockgate.team", record.team),
        ("lockgate.user", record.user),
        ("lockgate.deployment", record.deployment),
        ("lockgate.cost_usd", float(record.cost_usd)),
        ("lockgate.latency_ms", float(record.latency_ms)),
        ("lockgate.attempts", record.attempts),
        ("lockgate.cache", record.cache),
        ("lockgate.stream", record.stream),
    ]
    attributes = [a for a in (_attr(k, v) for k, v in pairs) if a is not None]
    body = f"{record.api} {record.model} -> {record.status}"
    return {
        "timeUnixNano": str(int(record.started_at * 1e9)),
        "observedTimeUnixNano": str(observed_ns),
        "severityNumber": number,
        "severityText": text,
        "body": {"stringValue": body},
        "attributes": attributes,
    }


def otlp_logs(records: Sequence[RequestRecord], service: str, now: float) -> dict[str, Any]:
    """The batch as one ExportLogsServiceRequest (OTLP/HTTP JSON)."""
    observed = int(now * 1e9)
    return {
        "resourceLogs": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": service}}]
                },
                "scopeLogs": [
                    {
                        "scope": {"name": "lockgate.requests"},
                        "logRecords": [_log_record(r, observed) for r in records],
                    }
                ],
            }
        ]
    }


def langfuse_batch(records: Sequence[RequestRecord], *, bodies: bool) -> dict[str, Any]:
    """The batch as Langfuse ingestion events (``POST /api/public/ingestion``)."""
    batch: list[dict[str, Any]] = []
    for r in records:
        ok = r.status < 400
        started, ended = _iso(r.started_at), _iso(_ended(r))
        metadata = {
            "key_name": r.key_name,
            "team": r.team,
            "deployment": r.deployment,
            "provider": r.provider,
            "status": r.status,
            "attempts": r.attempts,
            "cache": r.cache,
            "latency_ms": r.latency_ms,
        }
        trace = {
            "id": r.request_id,
            "timestamp": started,
            "name": f"lockgate {r.api}",
            "userId": r.user,
            "metadata": metadata,
            "tags": [t for t in (r.team, r.key_name) if t],
        }
        generation: dict[str, Any] = {
            "id": f"{r.request_id}-generation",
            "traceId": r.request_id,
            "name": r.model,
            "startTime": started,
            "endTime": ended,
            "model": r.upstream_model or r.model,
            "usageDetails": {
                "input": r.prompt_tokens,
                "output": r.completion_tokens,
                "total": r.prompt_tokens + r.completion_tokens,
            },
            "costDetails": {"total": r.cost_usd},
            "level": "DEFAULT" if ok else "ERROR",
            "statusMessage": None if ok else (r.error_code or r.error_type or str(r.status)),
            "metadata": metadata,
        }
        if r.ttft_ms is not None:
            generation["completionStartTime"] = _iso(r.started_at + r.ttft_ms / 1000.0)
        if bodies:
            trace["input"] = generation["input"] = r.request_body
            trace["output"] = generation["output"] = r.response_body
        batch.append(
            {
                "id": f"{r.request_id}-trace",
                "timestamp": started,
                "type": "trace-create",
                "body": trace,
            }
        )
        batch.append(
            {
                "id": f"{r.request_id}-generation-event",
                "timestamp": started,
                "type": "generation-create",
                "body": generation,
            }
        )
    return {"batch": batch, "metadata": {"sdk_name": "lockgate"}}
