"""A batch input file, line by line: parsed and checked before anything runs (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

__all__ = ["ENDPOINTS", "BatchLine", "LineError", "parse_input"]

#: endpoints a batch may target, as OpenAI names them
ENDPOINTS = ("/v1/chat/completions", "/v1/embeddings", "/v1/messages")
_MAX_CUSTOM_ID = 512


@dataclass(frozen=True, slots=True)
class BatchLine:
    line_no: int
    custom_id: str
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class LineError:
    line: int | None
    code: str
    message: str
    param: str | None = None

    def to_openai(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "param": self.param, "line": self.line}


def parse_input(
    data: bytes, endpoint: str, *, max_lines: int, max_errors: int = 20
) -> tuple[list[BatchLine], list[LineError]]:
    """Every line of ``data`` as a ``BatchLine``, or the errors (with their line numbers,
    1-based) that make the batch fail validation. Checks what OpenAI checks: JSON
    objects, a unique ``custom_id``, ``method`` POST, ``url`` equal to the batch's
    endpoint, a ``body`` object with a ``model``."""
    lines: list[BatchLine] = []
    errors: list[LineError] = []
    seen: set[str] = set()
    if endpoint not in ENDPOINTS:
        return [], [LineError(None, "invalid_endpoint", f"endpoint must be one of {ENDPOINTS}")]
    raw_lines = data.split(b"\n")
    count = sum(1 for r in raw_lines if r.strip())
    if count == 0:
        return [], [LineError(None, "empty_file", "The input file has no lines.")]
    if count > max_lines:
        return [], [
            LineError(None, "too_many_lines", f"{count} lines; at most {max_lines} per batch.")
        ]
    for n, raw in enumerate(raw_lines, 1):
        if len(errors) >= max_errors:
            break
        if not raw.strip():
            continue
        err = _check(n, raw, endpoint, seen, lines)
        if err is not None:
            errors.append(err)
    return (lines if not errors else []), errors


def _check(
    n: int, raw: bytes, endpoint: str, seen: set[str], out: list[BatchLine]
) -> LineError | None:
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return LineError(n, "invalid_json_line", f"Line {n} is not valid JSON.")
    if not isinstance(obj, dict):
        return LineError(n, "invalid_request", f"Line {n} must be a JSON object.")
    custom_id = obj.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id or len(custom_id) > _MAX_CUSTOM_ID:
        return LineError(n, "invalid_request", "custom_id must be a non-empty string.", "custom_id")
    if custom_id in seen:
        return LineError(n, "duplicate_custom_id", f"custom_id {custom_id!r} is used twice.")
    if obj.get("method") != "POST":
        return LineError(n, "invalid_request", "method must be POST.", "method")
    if obj.get("url") != endpoint:
        return LineError(
            n, "mismatched_url", f"url must be the batch's endpoint {endpoint}.", "url"
        )
    body = obj.get("body")
    if not isinstance(body, dict) or not isinstance(body.get("model"), str) or not body["model"]:
        return LineError(n, "invalid_request", "body must be an object with a model.", "body")
    if body.get("stream"):
        return LineError(n, "invalid_request", "Batch lines cannot stream.", "body.stream")
    seen.add(custom_id)
    out.append(BatchLine(n, custom_id, body))
    return None
