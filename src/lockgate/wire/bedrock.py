"""AWS Bedrock Converse / ConverseStream <-> canonical chat, both directions.

Requests become Converse bodies (``messages`` of content blocks, ``system``,
``inferenceConfig``, ``toolConfig``); answers and ConverseStream events
(``messageStart``, ``contentBlockStart/Delta/Stop``, ``messageStop``,
``metadata``) come back as chat completions and chunks.  One shape serves every
model family Bedrock hosts (Anthropic, Llama, Mistral, Nova...).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import orjson

from lockgate.chat import ChatResponse, Chunk, Usage
from lockgate.errors import UnsupportedParamError
from lockgate.tokens import content_text
from lockgate.wire.anthropic_params import RESPONSE_FORMAT_TOOL, response_format_tool

__all__ = ["BedrockToChunks", "bedrock_to_chat", "chat_to_bedrock", "usage_from_bedrock"]

_STOP = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "content_filtered": "content_filter",
    "guardrail_intervened": "content_filter",
}
_UNSUPPORTED: dict[str, Callable[[Any], bool]] = {
    "n": lambda v: v in (None, 1),
    "logprobs": lambda v: v in (None, False),
    "top_logprobs": lambda v: v in (None, 0),
    "seed": lambda v: v is None,
    "logit_bias": lambda v: not v,
}
_IMAGE_FORMATS = {
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/gif": "gif",
    "image/webp": "webp",
}


#: Converse's prompt-cache breakpoint: the prefix up to it is cached (Anthropic's
#: ``cache_control`` marks on parts, tools and messages become these)
def cache_point() -> dict[str, Any]:
    return {"cachePoint": {"type": "default"}}


def _marked(item: Any) -> bool:
    return isinstance(item, dict) and "cache_control" in item


def _with_point(blocks: list[dict[str, Any]], mark: bool) -> list[dict[str, Any]]:
    return [*blocks, cache_point()] if mark and blocks else blocks


def _blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str) or content is None:
        return [{"text": content}] if content else []
    blocks: list[dict[str, Any]] = []
    for part in content:
        if not isinstance(part, dict):
            continue
        if part.get("type") == "text":
            blocks.append({"text": part.get("text", "")})
        elif part.get("type") == "image_url":
            url = str((part.get("image_url") or {}).get("url", ""))
            head, _, data = (
                url[5:].partition(";base64,") if url.startswith("data:") else ("", "", "")
            )
            fmt = _IMAGE_FORMATS.get(head)
            if not data or fmt is None:
                raise UnsupportedParamError(
                    "Bedrock takes images inline: a base64 data URL of png, jpeg, gif or webp.",
                    param="messages",
                )
            blocks.append({"image": {"format": fmt, "source": {"bytes": data}}})
        else:
            continue
        if _marked(part):
            blocks.append(cache_point())
    return blocks


def _append(out: list[dict[str, Any]], role: str, blocks: list[dict[str, Any]]) -> None:
    if not blocks:
        return
    if out and out[-1]["role"] == role:
        out[-1]["content"].extend(blocks)
    else:
        out.append({"role": role, "content": blocks})


def chat_to_bedrock(body: dict[str, Any], *, drop_params: bool = False) -> dict[str, Any]:
    """A canonical chat body as a Converse request body."""
    if not drop_params:
        for name, harmless in _UNSUPPORTED.items():
            if name in body and not harmless(body[name]):
                raise UnsupportedParamError(
                    f"'{name}' is not supported by this model's provider (Bedrock Converse);"
                    " remove it or set drop_params: true on the deployment.",
                    param=name,
                )
    system: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    for msg in body["messages"]:
        role = msg.get("role")
        content = msg.get("content")
        marked = _marked(msg) or (isinstance(content, list) and any(_marked(p) for p in content))
        if role in ("system", "developer"):
            system += _with_point([{"text": content_text(content)}], marked)
        elif role == "user":
            _append(messages, "user", _with_point(_blocks(content), _marked(msg)))
        elif role == "assistant":
            blocks = _blocks(msg.get("content"))
            for call in msg.get("tool_calls") or ():
                fn = call.get("function") or {}
                try:
                    args = orjson.loads(fn.get("arguments") or "{}")
                except orjson.JSONDecodeError:
                    args = {}
                blocks.append(
                    {
                        "toolUse": {
                            "toolUseId": call.get("id"),
                            "name": fn.get("name"),
                            "input": args,
                        }
                    }
                )
            _append(messages, "assistant", _with_point(blocks, _marked(msg)))
        elif role in ("tool", "function"):
            result = {
                "toolUseId": msg.get("tool_call_id"),
                "content": [{"text": content_text(msg.get("content"))}],
            }
            _append(messages, "user", _with_point([{"toolResult": result}], marked))
    out: dict[str, Any] = {"messages": messages}
    if system:
        out["system"] = system
    config: dict[str, Any] = {}
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    if limit:
        config["maxTokens"] = limit
    if body.get("temperature") is not None:
        config["temperature"] = body["temperature"]
    if body.get("top_p") is not None:
        config["topP"] = body["top_p"]
    stop = body.get("stop")
    if stop:
        config["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    if config:
        out["inferenceConfig"] = config
    given = [t for t in body.get("tools") or () if isinstance(t, dict)]
    tools = [t.get("function") or {} for t in given]
    points = {i for i, t in enumerate(given) if _marked(t)}
    json_tool = response_format_tool(body.get("response_format"))
    if json_tool is not None:
        # Structured output as a forced tool, as for Anthropic (Converse has no JSON mode).
        tools.append(
            {
                "name": json_tool["name"],
                "description": json_tool["description"],
                "parameters": json_tool["input_schema"],
            }
        )
    if tools:
        specs: list[dict[str, Any]] = []
        for i, fn in enumerate(tools):
            spec = {
                "name": fn.get("name"),
                "description": fn.get("description") or fn.get("name"),
                "inputSchema": {"json": fn.get("parameters") or {"type": "object"}},
            }
            specs += _with_point([{"toolSpec": spec}], i in points)
        tool_config: dict[str, Any] = {"tools": specs}
        choice = body.get("tool_choice")
        if choice == "required":
            tool_config["toolChoice"] = {"any": {}}
        elif choice == "auto":
            tool_config["toolChoice"] = {"auto": {}}
        elif isinstance(choice, dict):
            tool_config["toolChoice"] = {
                "tool": {"name": (choice.get("function") or {}).get("name")}
            }
        if json_tool is not None and len(tools) == 1:
            tool_config["toolChoice"] = {"tool": {"name": RESPONSE_FORMAT_TOOL}}
        out["toolConfig"] = tool_config
    return out


def usage_from_bedrock(raw: Any) -> Usage:
    if not isinstance(raw, dict):
        return Usage()
    cached = int(raw.get("cacheReadInputTokens") or 0)
    written = int(raw.get("cacheWriteInputTokens") or 0)
    return Usage(
        prompt_tokens=int(raw.get("inputTokens") or 0) + cached + written,
        completion_tokens=int(raw.get("outputTokens") or 0),
        cached_tokens=cached,
        cache_write_tokens=written,
    )


def bedrock_to_chat(data: dict[str, Any], model: str, json_tool: str | None = None) -> ChatResponse:
    """A Converse response as a canonical chat completion (a ``json_tool`` call becomes
    the message's JSON text)."""
    message = (data.get("output") or {}).get("message") or {}
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    structured = False
    for block in message.get("content") or ():
        if "text" in block:
            texts.append(str(block["text"]))
        elif "toolUse" in block and json_tool and block["toolUse"].get("name") == json_tool:
            structured = True
            texts = [orjson.dumps(block["toolUse"].get("input") or {}).decode()]
        elif "toolUse" in block:
            use = block["toolUse"]
            calls.append(
                {
                    "id": use.get("toolUseId"),
                    "type": "function",
                    "function": {
                        "name": use.get("name"),
                        "arguments": orjson.dumps(use.get("input") or {}).decode(),
                    },
                }
            )
    out: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None}
    if calls:
        out["tool_calls"] = calls
    usage = usage_from_bedrock(data.get("usage"))
    finish = _STOP.get(str(data.get("stopReason")), "stop")
    if structured and not calls and finish == "tool_calls":
        finish = "stop"
    body = {
        "id": "chatcmpl-bedrock",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": out,
                "finish_reason": finish,
                "logprobs": None,
            }
        ],
        "usage": usage.to_openai(),
    }
    return ChatResponse(body=body, usage=usage)


class BedrockToChunks:
    """ConverseStream events (``:event-type`` and JSON payload) in, chat chunks out."""

    def __init__(self, model: str, json_tool: str | None = None) -> None:
        self.model = model
        self.created = int(time.time())
        self.done = False
        self._tools: dict[int, int] = {}  # content block index -> tool call index
        self._json_tool = json_tool
        self._json_blocks: set[int] = set()

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> Chunk:
        return {
            "id": "chatcmpl-bedrock",
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    def feed(self, event: str, data: dict[str, Any]) -> list[Chunk]:
        if event == "messageStart":
            return [self._chunk({"role": "assistant", "content": ""})]
        if event == "contentBlockStart":
            use = (data.get("start") or {}).get("toolUse")
            if use is None:
                return []
            if self._json_tool and use.get("name") == self._json_tool:
                self._json_blocks.add(int(data.get("contentBlockIndex", 0)))
                return []
            index = self._tools[int(data.get("contentBlockIndex", 0))] = len(self._tools)
            call = {
                "index": index,
                "id": use.get("toolUseId"),
                "type": "function",
                "function": {"name": use.get("name"), "arguments": ""},
            }
            return [self._chunk({"tool_calls": [call]})]
        if event == "contentBlockDelta":
            delta = data.get("delta") or {}
            if "text" in delta:
                return [self._chunk({"content": str(delta["text"])})]
            block = int(data.get("contentBlockIndex", 0))
            if "toolUse" in delta and block in self._json_blocks:
                return [self._chunk({"content": str((delta["toolUse"] or {}).get("input", ""))})]
            if "toolUse" in delta:
                index = self._tools.get(int(data.get("contentBlockIndex", 0)), 0)
                fn = {"arguments": str((delta["toolUse"] or {}).get("input", ""))}
                return [self._chunk({"tool_calls": [{"index": index, "function": fn}]})]
            return []
        if event == "messageStop":
            finish = _STOP.get(str(data.get("stopReason")), "stop")
            if finish == "tool_calls" and self._json_blocks and not self._tools:
                finish = "stop"
            return [self._chunk({}, finish)]
        if event == "metadata":
            self.done = True
            usage = usage_from_bedrock(data.get("usage"))
            return [
                {
                    "id": "chatcmpl-bedrock",
                    "object": "chat.completion.chunk",
                    "created": self.created,
                    "model": self.model,
                    "choices": [],
                    "usage": usage.to_openai(),
                }
            ]
        return []  # contentBlockStop and event types newer than this translator
