"""Google Gemini (Generative Language API) <-> canonical chat, both directions.

Requests become ``generateContent`` bodies: ``contents`` of ``user``/``model``
turns with text, inline images, ``functionCall`` and ``functionResponse`` parts,
``systemInstruction``, ``tools.functionDeclarations``, ``toolConfig`` and a
``generationConfig``.  Answers and ``streamGenerateContent`` (``alt=sse``) chunks
come back as chat completions / chunks with ``usageMetadata`` as usage.  Gemini
does not number function calls: ids are made up here and mapped back to names.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any

import orjson

from lockgate.chat import ChatResponse, Chunk, Usage
from lockgate.errors import UnsupportedParamError
from lockgate.tokens import content_text

__all__ = ["GeminiToChunks", "chat_to_gemini", "gemini_to_chat", "usage_from_gemini"]

_FINISH = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
}
_UNSUPPORTED: dict[str, Callable[[Any], bool]] = {
    "logprobs": lambda v: v in (None, False),
    "top_logprobs": lambda v: v in (None, 0),
    "logit_bias": lambda v: not v,
    "audio": lambda v: v is None,
    "prediction": lambda v: v is None,
}
_CONFIG = {
    "temperature": "temperature",
    "top_p": "topP",
    "top_k": "topK",
    "seed": "seed",
    "presence_penalty": "presencePenalty",
    "frequency_penalty": "frequencyPenalty",
    "n": "candidateCount",
}


def _parts(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str) or content is None:
        return [{"text": content}] if content else []
    parts: list[dict[str, Any]] = []
    for part in content:
        if not isinstance(part, dict):
            continue
        if part.get("type") == "text":
            parts.append({"text": part.get("text", "")})
        elif part.get("type") == "image_url":
            url = str((part.get("image_url") or {}).get("url", ""))
            if not (url.startswith("data:") and ";base64," in url):
                raise UnsupportedParamError(
                    "Gemini takes images inline: send image_url as a base64 data URL.",
                    param="messages",
                )
            head, data = url[5:].split(";base64,", 1)
            parts.append({"inline_data": {"mime_type": head, "data": data}})
        elif part.get("type") == "file":
            data_url = str((part.get("file") or {}).get("file_data") or "")
            if data_url.startswith("data:") and ";base64," in data_url:
                head, data = data_url[5:].split(";base64,", 1)
                parts.append({"inline_data": {"mime_type": head, "data": data}})
    return parts


def _append(contents: list[dict[str, Any]], role: str, parts: list[dict[str, Any]]) -> None:
    if not parts:
        return
    if contents and contents[-1]["role"] == role:
        contents[-1]["parts"].extend(parts)
    else:
        contents.append({"role": role, "parts": parts})


def chat_to_gemini(body: dict[str, Any], *, drop_params: bool = False) -> dict[str, Any]:
    """A canonical chat body as a ``generateContent`` request body."""
    if not drop_params:
        for name, harmless in _UNSUPPORTED.items():
            if name in body and not harmless(body[name]):
                raise UnsupportedParamError(
                    f"'{name}' is not supported by this model's provider (Gemini); remove it"
                    " or set drop_params: true on the deployment.",
                    param=name,
                )
    system: list[str] = []
    contents: list[dict[str, Any]] = []
    names: dict[str, str] = {}  # tool call id -> function name
    for msg in body["messages"]:
        role = msg.get("role")
        if role in ("system", "developer"):
            system.append(content_text(msg.get("content")))
        elif role == "user":
            _append(contents, "user", _parts(msg.get("content")))
        elif role == "assistant":
            parts = _parts(msg.get("content"))
            for call in msg.get("tool_calls") or ():
                fn = call.get("function") or {}
                names[str(call.get("id"))] = str(fn.get("name"))
                try:
                    args = orjson.loads(fn.get("arguments") or "{}")
                except orjson.JSONDecodeError:
                    args = {}
                parts.append({"functionCall": {"name": fn.get("name"), "args": args}})
            _append(contents, "model", parts)
        elif role in ("tool", "function"):
            name = names.get(str(msg.get("tool_call_id")), msg.get("name") or "tool")
            text = content_text(msg.get("content"))
            try:
                result = orjson.loads(text)
            except orjson.JSONDecodeError:
                result = None
            response = result if isinstance(result, dict) else {"result": text}
            _append(contents, "user", [{"functionResponse": {"name": name, "response": response}}])
    out: dict[str, Any] = {"contents": contents}
    if system:
        out["systemInstruction"] = {"parts": [{"text": "\n\n".join(system)}]}
    config: dict[str, Any] = {}
    for key, name in _CONFIG.items():
        if body.get(key) is not None:
            config[name] = body[key]
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    if limit:
        config["maxOutputTokens"] = limit
    stop = body.get("stop")
    if stop:
        config["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema"):
        config["responseMimeType"] = "application/json"
        schema = (fmt.get("json_schema") or {}).get("schema")
        if schema:
            config["responseJsonSchema"] = schema
    if config:
        out["generationConfig"] = config
    tools = [t.get("function") or {} for t in body.get("tools") or () if isinstance(t, dict)]
    if tools:
        out["tools"] = [
            {
                "functionDeclarations": [
                    {
                        k: v
                        for k, v in (
                            ("name", fn.get("name")),
                            ("description", fn.get("description")),
                            ("parameters", fn.get("parameters")),
                        )
                        if v
                    }
                    for fn in tools
                ]
            }
        ]
        choice = body.get("tool_choice")
        mode = {"auto": "AUTO", "none": "NONE", "required": "ANY"}.get(str(choice))
        if isinstance(choice, dict):
            forced = (choice.get("function") or {}).get("name")
            out["toolConfig"] = {
                "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [forced]}
            }
        elif mode is not None:
            out["toolConfig"] = {"functionCallingConfig": {"mode": mode}}
    return out


def usage_from_gemini(raw: Any) -> Usage:
    if not isinstance(raw, dict):
        return Usage()
    prompt = int(raw.get("promptTokenCount") or 0)
    total = int(raw.get("totalTokenCount") or 0)
    output = int(raw.get("candidatesTokenCount") or 0) + int(raw.get("thoughtsTokenCount") or 0)
    if not output and total:
        output = max(0, total - prompt)
    return Usage(prompt, output, int(raw.get("cachedContentTokenCount") or 0))


def _call_id(name: str, args: Any, index: int) -> str:
    digest = hashlib.sha256(orjson.dumps([name, args, index])).hexdigest()[:24]
    return f"call_{digest}"


def _message(candidate: dict[str, Any]) -> tuple[dict[str, Any], str]:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for part in (candidate.get("content") or {}).get("parts") or ():
        if part.get("thought"):
            continue
        if "text" in part:
            texts.append(str(part["text"]))
        elif "functionCall" in part:
            fc = part["functionCall"]
            calls.append(
                {
                    "id": _call_id(str(fc.get("name")), fc.get("args"), len(calls)),
                    "type": "function",
                    "function": {
                        "name": fc.get("name"),
                        "arguments": orjson.dumps(fc.get("args") or {}).decode(),
                    },
                }
            )
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None}
    if calls:
        message["tool_calls"] = calls
    finish = _FINISH.get(str(candidate.get("finishReason")), "stop")
    if calls and finish == "stop":
        finish = "tool_calls"
    return message, finish


def gemini_to_chat(data: dict[str, Any], model: str) -> ChatResponse:
    """A ``GenerateContentResponse`` as a canonical chat completion."""
    choices = []
    for i, candidate in enumerate(data.get("candidates") or ()):
        message, finish = _message(candidate)
        choices.append(
            {
                "index": candidate.get("index", i),
                "message": message,
                "finish_reason": finish,
                "logprobs": None,
            }
        )
    usage = usage_from_gemini(data.get("usageMetadata"))
    body = {
        "id": "chatcmpl-" + str(data.get("responseId") or "gemini"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": choices,
        "usage": usage.to_openai(),
    }
    return ChatResponse(body=body, usage=usage)


class GeminiToChunks:
    """``streamGenerateContent`` responses in, chat chunks out."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.created = int(time.time())
        self.id = "chatcmpl-gemini"
        self.usage: Usage | None = None
        self._calls = 0
        self._started = False

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> Chunk:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    def feed(self, data: dict[str, Any]) -> list[Chunk]:
        if data.get("responseId"):
            self.id = "chatcmpl-" + str(data["responseId"])
        out: list[Chunk] = []
        if not self._started:
            self._started = True
            out.append(self._chunk({"role": "assistant", "content": ""}))
        for candidate in (data.get("candidates") or [])[:1]:
            for part in (candidate.get("content") or {}).get("parts") or ():
                if part.get("thought"):
                    continue
                if part.get("text"):
                    out.append(self._chunk({"content": str(part["text"])}))
                elif "functionCall" in part:
                    fc = part["functionCall"]
                    call = {
                        "index": self._calls,
                        "id": _call_id(str(fc.get("name")), fc.get("args"), self._calls),
                        "type": "function",
                        "function": {
                            "name": fc.get("name"),
                            "arguments": orjson.dumps(fc.get("args") or {}).decode(),
                        },
                    }
                    self._calls += 1
                    out.append(self._chunk({"tool_calls": [call]}))
            if candidate.get("finishReason"):
                finish = _FINISH.get(str(candidate["finishReason"]), "stop")
                if self._calls and finish == "stop":
                    finish = "tool_calls"
                out.append(self._chunk({}, finish))
        if data.get("usageMetadata"):
            self.usage = usage_from_gemini(data["usageMetadata"])
        return out

    def usage_chunk(self) -> Chunk:
        usage = self.usage or Usage()
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [],
            "usage": usage.to_openai(),
        }
