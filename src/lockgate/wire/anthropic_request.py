"""Anthropic Messages requests <-> canonical OpenAI chat requests."""

from __future__ import annotations

from typing import Any

import orjson

from lockgate.chat_fields import MAX_TOKENS_CEILING
from lockgate.errors import BadRequestError, UnsupportedParamError
from lockgate.tokens import content_text
from lockgate.wire.anthropic_params import (
    RESPONSE_FORMAT_TOOL,
    check_params,
    response_format_tool,
)

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "anthropic_to_openai_request",
    "openai_to_anthropic_request",
    "translate_anthropic_request",
]

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


def _document_part(block: dict[str, Any]) -> dict[str, Any] | None:
    """A document block as an OpenAI content part (None when chat has no equivalent)."""
    source = block.get("source") or {}
    kind = source.get("type")
    if kind == "base64":
        media = source.get("media_type", "application/pdf")
        return {
            "type": "file",
            "file": {
                "filename": str(block.get("title") or "document.pdf"),
                "file_data": f"data:{media};base64,{source.get('data', '')}",
            },
        }
    if kind == "text":
        return {"type": "text", "text": str(source.get("data", ""))}
    return None


def _marked(item: dict[str, Any], mark: Any) -> dict[str, Any]:
    """``item`` carrying Anthropic's prompt-cache breakpoint ``mark`` (if there is one).

    The canonical form keeps ``cache_control`` where LiteLLM's OpenAI shape does (on
    content parts, tools and whole messages), so a request that goes through the
    canonical form (a stage rewrote it, or it fell back) loses no breakpoint.
    """
    if mark is not None:
        item["cache_control"] = mark
    return item


def _system_content(system: Any) -> Any:
    """Anthropic's ``system`` as a system message's content: text, or parts with marks."""
    if isinstance(system, str):
        return system
    if any("cache_control" in b for b in system):
        return [
            _marked({"type": "text", "text": b["text"]}, b.get("cache_control")) for b in system
        ]
    return _tool_result_text(system)


def _tool_result_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text"
        )
    return ""


class _Inbound:
    """One Anthropic request's translation, noting what the canonical form cannot hold."""

    def __init__(self) -> None:
        self.lossy: list[str] = []

    def message(self, i: int, msg: Any) -> list[dict[str, Any]]:
        if not isinstance(msg, dict) or msg.get("role") not in ("user", "assistant"):
            raise BadRequestError(
                f"messages.{i}: each message needs role 'user' or 'assistant'",
                param=f"messages.{i}",
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
        marked: Any = None
        for j, block in enumerate(content):
            kind = block.get("type") if isinstance(block, dict) else None
            if not isinstance(block, dict) or not isinstance(kind, str):
                raise BadRequestError(
                    f"messages.{i}.content.{j}: each block must be an object with a 'type'",
                    param=f"messages.{i}.content.{j}",
                )
            mark = block.get("cache_control")
            if mark is not None and role == "assistant":
                marked = mark  # chat has no per-block marks on assistant turns
            if kind == "text":
                parts.append(_marked({"type": "text", "text": block.get("text", "")}, mark))
            elif kind == "image":
                parts.append(_marked(_image_part(block), mark))
            elif kind == "document":
                part = _document_part(block)
                if part is None:
                    self.lossy.append(f"messages.{i}.content.{j} (document source)")
                else:
                    parts.append(_marked(part, mark))
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
                text = _tool_result_text(block.get("content"))
                if block.get("is_error"):
                    # Chat tool messages have no error flag; say it in the text.
                    text = "Error: " + text
                out.append(
                    _marked(
                        {"role": "tool", "tool_call_id": block.get("tool_use_id"), "content": text},
                        mark,
                    )
                )
            elif kind in ("thinking", "redacted_thinking"):
                continue  # the model's own earlier reasoning: only Anthropic reads it back
            else:
                self.lossy.append(f"messages.{i}.content.{j} (block type {kind!r})")
        if role == "assistant":
            text = "".join(p["text"] for p in parts if p["type"] == "text")
            msg_out: dict[str, Any] = {"role": "assistant", "content": text or None}
            if tool_calls:
                msg_out["tool_calls"] = tool_calls
            out.append(_marked(msg_out, marked))
        elif parts:
            if all(p["type"] == "text" and "cache_control" not in p for p in parts):
                out.append({"role": "user", "content": "".join(p["text"] for p in parts)})
            else:
                out.append({"role": "user", "content": parts})
        return out

    def tools(self, tools: list[Any]) -> list[dict[str, Any]]:
        out = []
        for k, t in enumerate(tools):
            if not isinstance(t, dict):
                continue
            if t.get("type") not in (None, "custom"):
                # Server tools (web search, code execution...) run at Anthropic only.
                self.lossy.append(f"tools.{k} (type {t.get('type')!r})")
                continue
            out.append(
                _marked(
                    {
                        "type": "function",
                        "function": {
                            "name": t.get("name"),
                            "description": t.get("description", ""),
                            "parameters": t.get("input_schema")
                            or {"type": "object", "properties": {}},
                        },
                    },
                    t.get("cache_control"),
                )
            )
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


#: top-level Anthropic fields chat has no place for (besides those translated below)
_NATIVE_ONLY = ("container", "mcp_servers", "context_management")


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
    return translate_anthropic_request(body)[0]


def translate_anthropic_request(body: Any) -> tuple[dict[str, Any], tuple[str, ...]]:
    """An Anthropic Messages body as an OpenAI chat body, and what the translation lost.

    The lost parts matter only when the request goes to a provider of another wire;
    an Anthropic upstream gets the client's body itself (see ``NativeRequest``).
    """
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
    inbound = _Inbound()
    out_messages: list[dict[str, Any]] = []
    system = body.get("system")
    if system:
        out_messages.append({"role": "system", "content": _system_content(system)})
    for i, msg in enumerate(messages):
        out_messages.extend(inbound.message(i, msg))
    out: dict[str, Any] = {"model": model, "messages": out_messages, "max_tokens": max_tokens}
    for key in ("temperature", "top_p"):
        if key in body:
            out[key] = body[key]
    if body.get("stop_sequences"):
        out["stop"] = body["stop_sequences"]
    if body.get("stream"):
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    tools = body.get("tools")
    if isinstance(tools, list) and tools:
        translated = inbound.tools(tools)
        if translated:
            out["tools"] = translated
    choice = _inbound_tool_choice(body.get("tool_choice"))
    if choice is not None and "tools" in out:
        out["tool_choice"] = choice
        if isinstance(body["tool_choice"], dict) and body["tool_choice"].get(
            "disable_parallel_tool_use"
        ):
            out["parallel_tool_calls"] = False
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("user_id"), str):
        out["user"] = metadata["user_id"]
    if "prompt" in body:
        out["prompt"] = body["prompt"]  # a registry prompt; the prompt stage renders it
    thinking = body.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") == "enabled":
        inbound.lossy.append("thinking")
    inbound.lossy.extend(name for name in _NATIVE_ONLY if body.get(name))
    return out, tuple(inbound.lossy)


# ---------------------------------------------------------------- outbound (provider)


def _outbound_parts(content: Any) -> list[dict[str, Any]] | str:
    if isinstance(content, str) or content is None:
        return content or ""
    blocks: list[dict[str, Any]] = []
    for part in content:
        if not isinstance(part, dict):
            continue
        mark = part.get("cache_control")
        if part.get("type") == "text":
            blocks.append(_marked({"type": "text", "text": part.get("text", "")}, mark))
            continue
        if part.get("type") == "image_url":
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
        elif part.get("type") == "file":
            blocks.append(_document_block(part.get("file") or {}))
        else:
            continue
        _marked(blocks[-1], mark)
    return blocks


def _document_block(file: dict[str, Any]) -> dict[str, Any]:
    data = str(file.get("file_data") or "")
    if not (data.startswith("data:") and ";base64," in data):
        raise UnsupportedParamError(
            "A 'file' content part needs inline 'file_data' (a base64 data URL) for this"
            " model's provider (Anthropic); uploaded file ids are not supported.",
            param="messages",
        )
    head, payload = data[5:].split(";base64,", 1)
    block: dict[str, Any] = {
        "type": "document",
        "source": {"type": "base64", "media_type": head, "data": payload},
    }
    if file.get("filename"):
        block["title"] = str(file["filename"])
    return block


def _mark_last(blocks: list[dict[str, Any]], mark: Any) -> list[dict[str, Any]]:
    """A message-level ``cache_control`` (LiteLLM's shape) marks its last block."""
    if mark is not None and blocks:
        blocks[-1] = {**blocks[-1], "cache_control": mark}
    return blocks


def _part_mark(content: Any) -> Any:
    """The breakpoint of a tool message's content parts (the last one that has one)."""
    if not isinstance(content, list):
        return None
    marks = [p["cache_control"] for p in content if isinstance(p, dict) and "cache_control" in p]
    return marks[-1] if marks else None


def _system_blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, list):
        return [
            _marked({"type": "text", "text": p.get("text", "")}, p.get("cache_control"))
            for p in content
            if isinstance(p, dict) and p.get("type") == "text"
        ]
    return [{"type": "text", "text": content}] if isinstance(content, str) and content else []


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


def openai_to_anthropic_request(
    body: dict[str, Any], upstream_model: str, *, drop_params: bool = False
) -> dict[str, Any]:
    """Translate a canonical OpenAI chat body to an Anthropic Messages body.

    Parameters Anthropic cannot honour raise ``UnsupportedParamError`` unless
    ``drop_params``; ``response_format`` becomes a forced ``json_output`` tool.
    """
    temperature = check_params(body, drop=drop_params)
    system_texts: list[str] = []
    system_blocks: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    for msg in body["messages"]:
        role = msg.get("role")
        mark = msg.get("cache_control")
        if role in ("system", "developer"):
            system_texts.append(content_text(msg.get("content")))
            system_blocks += _mark_last(_system_blocks(msg.get("content")), mark)
        elif role == "user":
            blocks = _as_blocks(_outbound_parts(msg.get("content")))
            _append(messages, "user", _mark_last(blocks, mark))
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
            _append(messages, "assistant", _mark_last(blocks, mark))
        elif role in ("tool", "function"):
            result = {
                "type": "tool_result",
                "tool_use_id": msg.get("tool_call_id"),
                "content": content_text(msg.get("content")),
            }
            _append(messages, "user", [_marked(result, mark or _part_mark(msg.get("content")))])
    out: dict[str, Any] = {
        "model": upstream_model,
        "messages": messages,
        "max_tokens": body.get("max_completion_tokens")
        or body.get("max_tokens")
        or DEFAULT_MAX_TOKENS,
    }
    if any("cache_control" in b for b in system_blocks):
        out["system"] = system_blocks  # blocks keep the client's breakpoints
    elif system_texts:
        out["system"] = "\n\n".join(system_texts)
    if temperature is not None:
        out["temperature"] = temperature
    for key in ("top_p", "top_k"):
        if body.get(key) is not None:
            out[key] = body[key]
    stop = body.get("stop")
    if stop:
        out["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    tools = body.get("tools")
    if tools:
        out["tools"] = [
            _marked(
                {
                    "name": (t.get("function") or {}).get("name"),
                    "description": (t.get("function") or {}).get("description", ""),
                    "input_schema": (t.get("function") or {}).get("parameters")
                    or {"type": "object", "properties": {}},
                },
                t.get("cache_control"),
            )
            for t in tools
            if isinstance(t, dict) and t.get("type", "function") == "function"
        ]
    choice = _outbound_tool_choice(body.get("tool_choice"))
    if choice is not None and tools:
        out["tool_choice"] = choice
    json_tool = response_format_tool(body.get("response_format"))
    if json_tool is not None:
        out["tools"] = [*out.get("tools", ()), json_tool]
        if not tools:
            out["tool_choice"] = {"type": "tool", "name": RESPONSE_FORMAT_TOOL}
    if body.get("parallel_tool_calls") is False and "tools" in out:
        out["tool_choice"] = {
            **out.get("tool_choice", {"type": "auto"}),
            "disable_parallel_tool_use": True,
        }
    if isinstance(body.get("user"), str):
        out["metadata"] = {"user_id": body["user"]}
    if body.get("stream"):
        out["stream"] = True
    return out
