"""Anthropic Messages responses <-> canonical OpenAI chat completions."""

from __future__ import annotations

import time
from typing import Any

import orjson

from lockgate.chat import ChatResponse, Usage

__all__ = [
    "FINISH_TO_STOP",
    "STOP_TO_FINISH",
    "anthropic_to_openai_response",
    "anthropic_usage",
    "openai_to_anthropic_response",
    "usage_from_anthropic",
]

STOP_TO_FINISH: dict[str, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
    "pause_turn": "stop",
}
FINISH_TO_STOP: dict[str, str] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


def usage_from_anthropic(raw: Any) -> Usage:
    """Anthropic's usage (fresh ``input_tokens`` + cache reads + cache writes) as ``Usage``."""
    if not isinstance(raw, dict):
        return Usage()
    fresh = _count(raw.get("input_tokens"))
    cache_read = _count(raw.get("cache_read_input_tokens"))
    cache_write = _count(raw.get("cache_creation_input_tokens"))
    split = raw.get("cache_creation")
    write_1h = _count(split.get("ephemeral_1h_input_tokens")) if isinstance(split, dict) else 0
    return Usage(
        prompt_tokens=fresh + cache_read + cache_write,
        completion_tokens=_count(raw.get("output_tokens")),
        cached_tokens=cache_read,
        cache_write_tokens=cache_write,
        cache_write_1h_tokens=min(write_1h, cache_write),
    )


def _count(value: Any) -> int:
    if isinstance(value, bool):
        return 0
    try:
        return max(0, int(value or 0))
    except (TypeError, ValueError):
        return 0


def anthropic_usage(usage: Usage) -> dict[str, Any]:
    """``usage`` in Anthropic's shape; cache fields only when the prompt cache was used."""
    out: dict[str, Any] = {
        "input_tokens": usage.fresh_tokens,
        "output_tokens": usage.completion_tokens,
    }
    if usage.cached_tokens or usage.cache_write_tokens:
        out["cache_creation_input_tokens"] = usage.cache_write_tokens
        out["cache_read_input_tokens"] = usage.cached_tokens
        if usage.cache_write_1h_tokens:
            out["cache_creation"] = usage.cache_creation()
    return out


def anthropic_to_openai_response(
    msg: dict[str, Any], model: str, json_tool: str | None = None
) -> ChatResponse:
    """A provider's Anthropic ``message`` as a canonical chat completion.

    A call of ``json_tool`` (the stand-in for ``response_format``) becomes the
    message's JSON text, finished with ``stop``.
    """
    texts: list[str] = []
    reasoning: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    structured = False
    for block in msg.get("content") or ():
        if block.get("type") == "text":
            texts.append(block.get("text", ""))
        elif block.get("type") == "thinking":
            reasoning.append(block.get("thinking", ""))
        elif block.get("type") == "tool_use" and json_tool and block.get("name") == json_tool:
            structured = True
            texts = [orjson.dumps(block.get("input") or {}).decode()]
        elif block.get("type") == "tool_use":
            tool_calls.append(
                {
                    "id": block.get("id"),
                    "type": "function",
                    "function": {
                        "name": block.get("name"),
                        "arguments": orjson.dumps(block.get("input") or {}).decode(),
                    },
                }
            )
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None}
    if tool_calls:
        message["tool_calls"] = tool_calls
    if reasoning:
        message["reasoning_content"] = "".join(reasoning)
    usage = usage_from_anthropic(msg.get("usage"))
    finish = STOP_TO_FINISH.get(str(msg.get("stop_reason")), "stop")
    if structured and not tool_calls and finish == "tool_calls":
        finish = "stop"
    body = {
        "id": msg.get("id") or "chatcmpl-lockgate",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": finish,
                "logprobs": None,
            }
        ],
        "usage": usage.to_openai(),
    }
    return ChatResponse(body=body, usage=usage)


def openai_to_anthropic_response(resp: ChatResponse, model: str) -> dict[str, Any]:
    """A canonical chat completion as an Anthropic ``message`` for /v1/messages clients."""
    choices = resp.body.get("choices") or [{}]
    message = choices[0].get("message") or {}
    content: list[dict[str, Any]] = []
    text = message.get("content")
    if isinstance(text, str) and text:
        content.append({"type": "text", "text": text})
    for call in message.get("tool_calls") or ():
        fn = call.get("function") or {}
        try:
            args = orjson.loads(fn.get("arguments") or "{}")
        except orjson.JSONDecodeError:
            args = {}
        content.append(
            {"type": "tool_use", "id": call.get("id"), "name": fn.get("name"), "input": args}
        )
    ident = str(resp.body.get("id") or "")
    usage = anthropic_usage(resp.usage)
    return {
        "id": ident if ident.startswith("msg_") else f"msg_{ident.removeprefix('chatcmpl-')}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": FINISH_TO_STOP.get(str(choices[0].get("finish_reason")), "end_turn"),
        "stop_sequence": None,
        "usage": usage,
    }
