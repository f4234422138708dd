"""OpenAI wire format: chat completions (plain and SSE), embeddings, models, errors.

Pure builders: they take the parsed request body and return dicts or SSE byte pieces.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import struct
from typing import Any

from .replies import (
    TOOL_TRIGGER,
    Reply,
    compact_json,
    estimate_tokens,
    example_arguments,
    last_user_text,
    plan_text_reply,
    stable_id,
    text_of,
)

__all__ = [
    "chat_completion",
    "chat_completion_chunks",
    "embeddings",
    "error_body",
    "models",
    "text_completion",
    "text_completion_chunks",
    "validate_chat",
]

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_exceeded",
}


def error_body(status: int, message: str, code: str | None = None) -> dict[str, Any]:
    kind = _ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": kind, "code": code or kind, "param": None}}


def validate_chat(body: Any) -> str | None:
    """The reason this is not a chat request, or None."""
    if not isinstance(body, dict):
        return "request body must be a JSON object"
    if not isinstance(body.get("messages"), list) or not body["messages"]:
        return "'messages' must be a non-empty array"
    if not isinstance(body.get("model"), str):
        return "'model' is required"
    return None


def _prompt_tokens(body: dict[str, Any]) -> int:
    text = " ".join(text_of(m.get("content")) for m in body["messages"] if isinstance(m, dict))
    return estimate_tokens(text)


def _max_tokens(body: dict[str, Any]) -> int | None:
    value = body.get("max_completion_tokens", body.get("max_tokens"))
    return value if isinstance(value, int) else None


def _tool_call(body: dict[str, Any]) -> dict[str, Any] | None:
    """The call to make: a forced tool_choice, "required", or the trigger phrase (first tool)."""
    tools = body.get("tools")
    user = last_user_text(body["messages"])
    choice = body.get("tool_choice")
    if not tools:
        return None
    tool = tools[0]
    if isinstance(choice, dict) and choice.get("type") == "function":
        forced = (choice.get("function") or {}).get("name")
        tool = next((t for t in tools if t.get("function", {}).get("name") == forced), tool)
    elif choice != "required" and TOOL_TRIGGER not in user:
        return None
    function = tool.get("function", {})
    name = str(function.get("name", "tool"))
    return {
        "id": stable_id("call_", name, user),
        "type": "function",
        "function": {
            "name": name,
            "arguments": compact_json(example_arguments(function.get("parameters"))),
        },
    }


def _reply(body: dict[str, Any]) -> Reply:
    """The text answer: JSON matching a json_schema response_format, else the echo."""
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema")
        return Reply([compact_json(example_arguments(schema))], truncated=False)
    return plan_text_reply(last_user_text(body["messages"]), _max_tokens(body))


def _usage(prompt: int, completion: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def chat_completion(body: dict[str, Any], completion_id: str, created: int) -> dict[str, Any]:
    prompt = _prompt_tokens(body)
    call = _tool_call(body)
    if call is not None:
        message: dict[str, Any] = {"role": "assistant", "content": None, "tool_calls": [call]}
        finish, completion = "tool_calls", estimate_tokens(call["function"]["arguments"])
    else:
        reply = _reply(body)
        message = {"role": "assistant", "content": reply.text, "refusal": None}
        finish = "length" if reply.truncated else "stop"
        completion = reply.output_tokens
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": body["model"],
        "system_fingerprint": "fp_fake",
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        "usage": _usage(prompt, completion),
    }


def _sse(payload: Any) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


def chat_completion_chunks(body: dict[str, Any], completion_id: str, created: int) -> list[bytes]:
    """Every SSE event of a streamed answer, ``data: [DONE]`` included."""
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    prompt = _prompt_tokens(body)

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        payload: dict[str, Any] = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": body["model"],
            "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if include_usage:
            payload["usage"] = None
        return _sse(payload)

    call = _tool_call(body)
    events: list[bytes] = []
    if call is not None:
        args = call["function"]["arguments"]
        head = {
            "index": 0,
            "id": call["id"],
            "type": "function",
            "function": {"name": call["function"]["name"], "arguments": ""},
        }
        events.append(chunk({"role": "assistant", "content": None, "tool_calls": [head]}))
        for i in range(0, len(args), 8):
            frag = {"index": 0, "function": {"arguments": args[i : i + 8]}}
            events.append(chunk({"tool_calls": [frag]}))
        events.append(chunk({}, "tool_calls"))
        completion = estimate_tokens(args)
    else:
        reply = _reply(body)
        events.append(chunk({"role": "assistant", "content": "", "refusal": None}))
        events.extend(chunk({"content": piece}) for piece in reply.pieces())
        events.append(chunk({}, "length" if reply.truncated else "stop"))
        completion = reply.output_tokens
    if include_usage:
        events.append(
            _sse(
                {
                    "id": completion_id,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": body["model"],
                    "system_fingerprint": "fp_fake",
                    "choices": [],
                    "usage": _usage(prompt, completion),
                }
            )
        )
    events.append(b"data: [DONE]\n\n")
    return events


def _prompt_reply(body: dict[str, Any]) -> tuple[str, Reply]:
    prompt = body.get("prompt")
    text = "\n".join(prompt) if isinstance(prompt, list) else str(prompt or "")
    return text, plan_text_reply(text, _max_tokens(body))


def text_completion(body: dict[str, Any], completion_id: str, created: int) -> dict[str, Any]:
    """A legacy ``text_completion``: the echo of the prompt."""
    prompt, reply = _prompt_reply(body)
    return {
        "id": completion_id,
        "object": "text_completion",
        "created": created,
        "model": body["model"],
        "choices": [
            {
                "index": 0,
                "text": reply.text,
                "logprobs": None,
                "finish_reason": "length" if reply.truncated else "stop",
            }
        ],
        "usage": _usage(estimate_tokens(prompt), reply.output_tokens),
    }


def text_completion_chunks(body: dict[str, Any], completion_id: str, created: int) -> list[bytes]:
    prompt, reply = _prompt_reply(body)

    def chunk(text: str, finish: str | None) -> bytes:
        return _sse(
            {
                "id": completion_id,
                "object": "text_completion",
                "created": created,
                "model": body["model"],
                "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": finish}],
            }
        )

    events = [chunk(piece, None) for piece in reply.pieces()]
    events.append(chunk("", "length" if reply.truncated else "stop"))
    if (body.get("stream_options") or {}).get("include_usage"):
        usage = _usage(estimate_tokens(prompt), reply.output_tokens)
        events.append(
            _sse(
                {
                    "id": completion_id,
                    "object": "text_completion",
                    "created": created,
                    "model": body["model"],
                    "choices": [],
                    "usage": usage,
                }
            )
        )
    events.append(b"data: [DONE]\n\n")
    return events


def _vector(text: str, dimensions: int) -> list[float]:
    """A unit vector derived from the text's hash: equal texts, equal vectors."""
    raw = b""
    counter = 0
    while len(raw) < dimensions * 4:
        raw += hashlib.sha256(f"{counter}:{text}".encode()).digest()
        counter += 1
    values = [(b / 127.5) - 1.0 for b in raw[: dimensions * 4 : 4]]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


def embeddings(body: dict[str, Any], dimensions_default: int = 8) -> dict[str, Any]:
    raw = body.get("input")
    inputs = raw if isinstance(raw, list) else [raw]
    texts = [json.dumps(x) if not isinstance(x, str) else x for x in inputs]
    dimensions = body.get("dimensions") or dimensions_default
    as_base64 = body.get("encoding_format") == "base64"
    data = []
    for i, text in enumerate(texts):
        vector = _vector(text, int(dimensions))
        encoded: Any = (
            base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
            if as_base64
            else vector
        )
        data.append({"object": "embedding", "index": i, "embedding": encoded})
    tokens = sum(estimate_tokens(t) for t in texts)
    return {
        "object": "list",
        "data": data,
        "model": body.get("model", "text-embedding-fake"),
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def models(names: list[str]) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [{"id": n, "object": "model", "created": 0, "owned_by": "fake"} for n in names],
    }
