"""Anthropic Messages wire format: plain message, SSE event sequence, errors."""

from __future__ import annotations

import json
from typing import Any

from .replies import (
    TOOL_TRIGGER,
    compact_json,
    estimate_tokens,
    example_arguments,
    last_user_text,
    plan_text_reply,
    stable_id,
    text_of,
)

__all__ = [
    "FUTURE_EVENT_TRIGGER",
    "error_body",
    "input_tokens",
    "message",
    "message_events",
    "validate_headers",
    "validate_message",
]

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def error_body(status: int, message: str) -> dict[str, Any]:
    kind = _ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    return {"type": "error", "error": {"type": kind, "message": message}}


def validate_headers(headers: dict[str, str]) -> str | None:
    # anthropic SDK 2.x sends the key as a bearer token; 0.x as x-api-key. Accept both.
    bearer = headers.get("authorization", "").startswith("Bearer ")
    if not headers.get("x-api-key") and not bearer:
        return "x-api-key header is required"
    if not headers.get("anthropic-version"):
        return "anthropic-version header is required"
    return None


def validate_message(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "request body must be a JSON object"
    if not isinstance(body.get("messages"), list) or not body["messages"]:
        return "messages: field required"
    if not isinstance(body.get("model"), str):
        return "model: field required"
    if not isinstance(body.get("max_tokens"), int):
        return "max_tokens: field required"
    return None


def input_tokens(body: dict[str, Any]) -> int:
    text = text_of(body.get("system")) + " "
    text += " ".join(text_of(m.get("content")) for m in body["messages"] if isinstance(m, dict))
    return estimate_tokens(text.strip())


#: a last user message holding this makes the fake stream an event type from the future
FUTURE_EVENT_TRIGGER = "FUTURE_EVENT"


def _tool_use(body: dict[str, Any]) -> dict[str, Any] | None:
    """The tool call to make: a forced tool_choice, "any", or the trigger phrase."""
    tools = body.get("tools")
    user = last_user_text(body["messages"])
    choice = body.get("tool_choice") or {}
    if not tools:
        return None
    tool = tools[0]
    if choice.get("type") == "tool":
        tool = next((t for t in tools if t.get("name") == choice.get("name")), tools[0])
    elif choice.get("type") != "any" and TOOL_TRIGGER not in user:
        return None
    name = str(tool.get("name", "tool"))
    return {
        "type": "tool_use",
        "id": stable_id("toolu_", name, user),
        "name": name,
        "input": example_arguments(tool.get("input_schema")),
    }


def _thinking(body: dict[str, Any]) -> dict[str, Any] | None:
    thinking = body.get("thinking")
    if not isinstance(thinking, dict) or thinking.get("type") != "enabled":
        return None
    text = "Thinking about: " + last_user_text(body["messages"])
    return {"type": "thinking", "thinking": text, "signature": stable_id("sig_", text)}


def _plan(
    body: dict[str, Any],
) -> tuple[list[dict[str, Any]], str, str | None, int, list[str]]:
    """(content blocks, stop_reason, stop_sequence, output tokens, deltas of the last block)."""
    thinking = _thinking(body)
    head = [thinking] if thinking is not None else []
    tool = _tool_use(body)
    if tool is not None:
        args = compact_json(tool["input"])
        pieces = [args[i : i + 8] for i in range(0, len(args), 8)]
        return [*head, tool], "tool_use", None, estimate_tokens(args), pieces
    reply = plan_text_reply(last_user_text(body["messages"]), body["max_tokens"])
    words = reply.words
    stop = "max_tokens" if reply.truncated else "end_turn"
    sequence = None
    for seq in body.get("stop_sequences") or ():
        if seq in words:
            words, stop, sequence = words[: words.index(seq)], "stop_sequence", seq
            break
    text = " ".join(words)
    pieces = [w if i == 0 else " " + w for i, w in enumerate(words)]
    return [*head, {"type": "text", "text": text}], stop, sequence, len(words), pieces


def message(body: dict[str, Any], message_id: str) -> dict[str, Any]:
    content, stop, sequence, output, _ = _plan(body)
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": body["model"],
        "content": content,
        "stop_reason": stop,
        "stop_sequence": sequence,
        "usage": {"input_tokens": input_tokens(body), "output_tokens": output},
    }


def _event(name: str, payload: dict[str, Any]) -> bytes:
    data = json.dumps(payload, separators=(",", ":"))
    return f"event: {name}\ndata: {data}\n\n".encode()


def _block_events(index: int, block: dict[str, Any], pieces: list[str]) -> list[bytes]:
    if block["type"] == "thinking":
        start = {"type": "thinking", "thinking": ""}
        deltas = [
            {"type": "thinking_delta", "thinking": block["thinking"]},
            {"type": "signature_delta", "signature": block["signature"]},
        ]
    elif block["type"] == "tool_use":
        start = {**block, "input": {}}
        deltas = [{"type": "input_json_delta", "partial_json": p} for p in pieces]
    else:
        start = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": p} for p in pieces]
    events = [
        _event(
            "content_block_start",
            {"type": "content_block_start", "index": index, "content_block": start},
        )
    ]
    events.extend(
        _event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": d})
        for d in deltas
    )
    events.append(_event("content_block_stop", {"type": "content_block_stop", "index": index}))
    return events


def message_events(
    body: dict[str, Any], message_id: str, cache: dict[str, Any] | None = None
) -> list[bytes]:
    """message_start, the first content_block_start, ping, deltas and stops of each
    block, message_delta, message_stop: the order Anthropic sends them in."""
    content, stop, sequence, output, pieces = _plan(body)
    start_message = {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": body["model"],
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {**(cache or {"input_tokens": input_tokens(body)}), "output_tokens": 1},
    }
    blocks: list[bytes] = []
    for index, block in enumerate(content):
        blocks += _block_events(index, block, pieces if index == len(content) - 1 else [])
    events = [
        _event("message_start", {"type": "message_start", "message": start_message}),
        blocks[0],
        _event("ping", {"type": "ping"}),
    ]
    if FUTURE_EVENT_TRIGGER in last_user_text(body["messages"]):
        events.append(_event("future_event", {"type": "future_event", "detail": "new"}))
    events += blocks[1:]
    events += [
        _event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop, "stop_sequence": sequence},
                "usage": {"output_tokens": output},
            },
        ),
        _event("message_stop", {"type": "message_stop"}),
    ]
    return events
