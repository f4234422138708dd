"""Anthropic Messages requests <-> canonical OpenAI chat requests."""

from __future__ import annotations

from typing import Any

import orjson

from lockgate.chat_fields import MAX_TOKENS_CEILING
from lockgate.errors import BadRequestError
from lockgate.tokens import content_text

__all__ = ["DEFAULT_MAX_TOKENS", "anthropic_to_openai_request", "openai_to_anthropic_request"]

#: Anthropic requires max_tokens; OpenAI callers often omit it.
DEFAULT_MAX_TOKENS = 4096


# ---------------------------------------------------------------- inbound (/v1/messages)


def _image_part(block: dict[str, Any]) -> dict[str, Any]:
    source = block.get("source") or {}
    if source.get("type") == "base64":
        url = f"data:{source.get('media_type', 'image/png')};base64,{source.get('data', '')}"
    else:
        url = str(source.get("url", ""))
    return {"type": "image_url", "image_url": {"url": url}}


def _tool_result_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text"
        )
    return ""


def _inbound_message(i: int, msg: Any) -> list[dict[str, Any]]:
    if not isinstance(msg, dict) or msg.get("role") not in ("user", "assistant"):
        raise BadRequestError(
            f"messages.{i}: each message needs role 'user' or 'assistant'", param=f"messages.{i}"
        )
    role = msg["role"]
    content = msg.get("content")
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    if not isinstance(content, list):
        raise BadRequestError(
            f"messages.{i}.content must be a string or a list of blocks",
            param=f"messages.{i}.content",
        )
    out: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    tool_calls: list[dict[str, Any]] = []
    for block in content:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            parts.append({"type": "text", "text": block.get("text", "")})
        elif kind == "image":
            parts.append(_image_part(block))
        elif kind == "tool_use" and role == "assistant":
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
        elif kind == "tool_result" and role == "user":
            out.append(
                {
                    "role": "tool",
                    "tool_call_id": block.get("tool_use_id"),
                    "content": _tool_result_text(block.get("content")),
                }
            )
        elif kind in ("thinking", "redacted_thinking"):
            continue
        else:
            raise BadRequestError(
                f"messages.{i}.content: unsupported block type {kind!r} for role {role}",
                param=f"messages.{i}.content",
            )
    if role == "assistant":
        text = "".join(p["text"] for p in parts if p["type"] == "text")
        msg_out: dict[str, Any] = {"role": "assistant", "content": text or None}
        if tool_calls:
            msg_out["tool_calls"] = tool_calls
        out.append(msg_out)
    elif parts:
        if all(p["type"] == "text" for p in parts):
            out.append({"role": "user", "content": "".join(p["text"] for p in parts)})
        else:
            out.append({"role": "user", "content": parts})
    return out


def _inbound_tool_choice(choice: Any) -> Any:
    if not isinstance(choice, dict):
        return None
    kind = choice.get("type")
    if kind == "any":
        return "required"
    if kind == "tool":
        return {"type": "function", "function": {"name": choice.get("name")}}
    if kind in ("auto", "none"):
        return kind
    return None


def _bad(param: str, message: str) -> BadRequestError:
    return BadRequestError(f"{param}: {message}", param=param)


def _check_number(body: dict[str, Any], name: str, high: float) -> None:
    value = body.get(name)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= high:
        raise _bad(name, f"must be a number from 0 to {high:g}")


def _check_fields(body: dict[str, Any]) -> None:
    """Anthropic's own field rules, named as the client wrote them (before translation)."""
    system = body.get("system")
    if (
        system is not None
        and not isinstance(system, str)
        and (
            not isinstance(system, list)
            or not all(
                isinstance(b, dict) and b.get("type") == "text" and isinstance(b.get("text"), str)
                for b in system
            )
        )
    ):
        raise _bad("system", "must be a string or a list of text blocks")
    _check_number(body, "temperature", 1.0)
    _check_number(body, "top_p", 1.0)
    top_k = body.get("top_k")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 0):
        raise _bad("top_k", "must be a non-negative integer")
    stop = body.get("stop_sequences")
    if stop is not None and (
        not isinstance(stop, list) or not all(isinstance(s, str) for s in stop)
    ):
        raise _bad("stop_sequences", "must be a list of strings")
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise _bad("tools", "must be a list of tools")
        for i, tool in enumerate(tools):
            if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
                raise _bad(f"tools.{i}", "each tool needs a name")
            schema = tool.get("input_schema")
            if schema is not None and not isinstance(schema, dict):
                raise _bad(f"tools.{i}.input_schema", "must be an object")
    for name in ("metadata", "tool_choice"):
        if body.get(name) is not None and not isinstance(body[name], dict):
            raise _bad(name, "must be an object")
    if not isinstance(body.get("stream", False), bool):
        raise _bad("stream", "must be a boolean")


def anthropic_to_openai_request(body: Any) -> dict[str, Any]:
    """Translate an Anthropic Messages request body to an OpenAI chat body."""
    if not isinstance(body, dict):
        raise BadRequestError("Request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequestError("model: field required", param="model")
    max_tokens = body.get("max_tokens")
    if (
        not isinstance(max_tokens, int)
        or isinstance(max_tokens, bool)
        or not 1 <= max_tokens <= MAX_TOKENS_CEILING
    ):
        raise BadRequestError(
            f"max_tokens: field required (an integer from 1 to {MAX_TOKENS_CEILING})",
            param="max_tokens",
        )
    _check_fields(body)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequestError("messages: field required (a non-empty list)", param="messages")
    out_messages: list[dict[str, Any]] = []
    system = body.get("system")
    if system:
        text = system if isinstance(system, str) else _tool_result_text(system)
        out_messages.append({"role": "system", "content": text})
    for i, msg in enumerate(messages):
        out_messages.extend(_inbound_message(i, msg))
    out: dict[str, Any] = {"model": model, "messages": out_messages, "max_tokens": max_tokens}
    for key in ("temperature", "top_p", "top_k"):
        if key in body:
            out[key] = body[key]
    if body.get("stop_sequences"):
        out["stop"] = body["stop_sequences"]
    if body.get("stream"):
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    tools = body.get("tools")
    if isinstance(tools, list) and tools:
        out["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": t.get("name"),
                    "description": t.get("description", ""),
                    "parameters": t.get("input_schema") or {"type": "object", "properties": {}},
                },
            }
            for t in tools
            if isinstance(t, dict)
        ]
    choice = _inbound_tool_choice(body.get("tool_choice"))
    if choice is not None:
        out["tool_choice"] = choice
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("user_id"), str):
        out["user"] = metadata["user_id"]
    return out


# ---------------------------------------------------------------- outbound (provider)


def _outbound_parts(content: Any) -> list[dict[str, Any]] | str:
    if isinstance(content, str) or content is None:
        return content or ""
    blocks: list[dict[str, Any]] = []
    for part in content:
        if not isinstance(part, dict):
            continue
        if part.get("type") == "text":
            blocks.append({"type": "text", "text": part.get("text", "")})
        elif part.get("type") == "image_url":
            url = str((part.get("image_url") or {}).get("url", ""))
            if url.startswith("data:") and ";base64," in url:
                head, data = url[5:].split(";base64,", 1)
                blocks.append(
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": head, "data": data},
                    }
                )
            else:
                blocks.append({"type": "image", "source": {"type": "url", "url": url}})
    return blocks


def _as_blocks(content: list[dict[str, Any]] | str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    return content


def _append(out: list[dict[str, Any]], role: str, blocks: list[dict[str, Any]]) -> None:
    # Anthropic wants user/assistant turns to alternate: merge neighbours of one role.
    if out and out[-1]["role"] == role:
        prev = out[-1]["content"]
        out[-1]["content"] = _as_blocks(prev) + blocks
    else:
        out.append({"role": role, "content": blocks})


def _outbound_tool_choice(choice: Any) -> dict[str, Any] | None:
    if choice == "required":
        return {"type": "any"}
    if choice in ("auto", "none"):
        return {"type": choice}
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        if name:
            return {"type": "tool", "name": name}
    return None


def openai_to_anthropic_request(body: dict[str, Any], upstream_model: str) -> dict[str, Any]:
    """Translate a canonical OpenAI chat body to an Anthropic Messages body."""
    system_texts: list[str] = []
    messages: list[dict[str, Any]] = []
    for msg in body["messages"]:
        role = msg.get("role")
        if role in ("system", "developer"):
            system_texts.append(content_text(msg.get("content")))
        elif role == "user":
            _append(messages, "user", _as_blocks(_outbound_parts(msg.get("content"))))
        elif role == "assistant":
            blocks = _as_blocks(_outbound_parts(msg.get("content")))
            for call in msg.get("tool_calls") or ():
                fn = call.get("function") or {}
                try:
                    args = orjson.loads(fn.get("arguments") or "{}")
                except orjson.JSONDecodeError:
                    args = {}
                blocks.append(
                    {
                        "type": "tool_use",
                        "id": call.get("id"),
                        "name": fn.get("name"),
                        "input": args,
                    }
                )
            _append(messages, "assistant", blocks)
        elif role in ("tool", "function"):
            _append(
                messages,
                "user",
                [
                    {
                        "type": "tool_result",
                        "tool_use_id": msg.get("tool_call_id"),
                        "content": content_text(msg.get("content")),
                    }
                ],
            )
    out: dict[str, Any] = {
        "model": upstream_model,
        "messages": messages,
        "max_tokens": body.get("max_completion_tokens")
        or body.get("max_tokens")
        or DEFAULT_MAX_TOKENS,
    }
    if system_texts:
        out["system"] = "\n\n".join(system_texts)
    if "temperature" in body and body["temperature"] is not None:
        out["temperature"] = min(float(body["temperature"]), 1.0)
    for key in ("top_p", "top_k"):
        if body.get(key) is not None:
            out[key] = body[key]
    stop = body.get("stop")
    if stop:
        out["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    tools = body.get("tools")
    if tools:
        out["tools"] = [
            {
                "name": (t.get("function") or {}).get("name"),
                "description": (t.get("function") or {}).get("description", ""),
                "input_schema": (t.get("function") or {}).get("parameters")
                or {"type": "object", "properties": {}},
            }
            for t in tools
            if isinstance(t, dict) and t.get("type", "function") == "function"
        ]
    choice = _outbound_tool_choice(body.get("tool_choice"))
    if choice is not None and tools:
        out["tool_choice"] = choice
    if isinstance(body.get("user"), str):
        out["metadata"] = {"user_id": body["user"]}
    if body.get("stream"):
        out["stream"] = True
    return out
