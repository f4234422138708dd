"""OpenAI Responses API requests -> canonical chat requests.

``input`` (a string or a list of items), ``instructions``, function ``tools``,
``tool_choice``, ``text.format`` (structured output), ``reasoning.effort``,
``max_output_tokens`` and the sampling fields map onto chat fields; the chat
form then reaches any provider.  Built-in tools (web search, file search,
computer use...) run inside OpenAI's own service and have no chat equivalent:
they are refused by name rather than dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lockgate.errors import BadRequestError, UnsupportedParamError

__all__ = ["ResponsesRequest", "parse_responses_request"]

#: Responses fields that go to chat under the same name
_SAME_NAME = (
    "temperature",
    "top_p",
    "parallel_tool_calls",
    "user",
    "service_tier",
    "seed",
    # OpenAI prompt caching: which cache shard, and how long it keeps
    "prompt_cache_key",
    "prompt_cache_retention",
)


@dataclass(slots=True)
class ResponsesRequest:
    """A Responses request split into what goes upstream and what is echoed back."""

    model: str
    #: the chat body, without the previous response's history (added by the route)
    chat: dict[str, Any]
    #: this request's own input as chat messages (instructions excluded)
    input_messages: list[dict[str, Any]]
    instructions: str | None
    previous_response_id: str | None
    store: bool
    stream: bool
    #: request fields the response object repeats (tools, metadata, text...)
    echo: dict[str, Any]


def _text_of_parts(parts: list[Any], where: str) -> list[dict[str, Any]] | str:
    out: list[dict[str, Any]] = []
    for j, part in enumerate(parts):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("input_text", "output_text", "text"):
            out.append({"type": "text", "text": str(part.get("text", ""))})
        elif kind == "input_image":
            url = part.get("image_url")
            if not isinstance(url, str):
                raise UnsupportedParamError(
                    f"{where}[{j}]: input_image needs image_url (uploaded file ids are not"
                    " supported by this gateway)",
                    param=f"{where}[{j}]",
                )
            image: dict[str, Any] = {"url": url}
            if part.get("detail"):
                image["detail"] = part["detail"]
            out.append({"type": "image_url", "image_url": image})
        elif kind == "input_file" and isinstance(part.get("file_data"), str):
            file = {"file_data": part["file_data"]}
            if part.get("filename"):
                file["filename"] = part["filename"]
            out.append({"type": "file", "file": file})
        elif kind == "refusal":
            out.append({"type": "text", "text": str(part.get("refusal", ""))})
        else:
            raise UnsupportedParamError(
                f"{where}[{j}]: content part type {kind!r} is not supported", param=where
            )
    if all(p["type"] == "text" for p in out):
        return "".join(p["text"] for p in out)
    return out


def _input_messages(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    if not isinstance(value, list) or not value:
        raise BadRequestError("'input' must be a string or a non-empty array.", param="input")
    out: list[dict[str, Any]] = []
    for i, item in enumerate(value):
        where = f"input[{i}]"
        if not isinstance(item, dict):
            raise BadRequestError(f"{where} must be an object.", param=where)
        kind = item.get("type", "message")
        if kind == "message":
            role = item.get("role")
            if role not in ("user", "assistant", "system", "developer"):
                raise BadRequestError(f"{where}.role {role!r} is not valid.", param=where)
            content = item.get("content")
            if isinstance(content, list):
                content = _text_of_parts(content, f"{where}.content")
            elif not isinstance(content, str):
                raise BadRequestError(f"{where}.content must be text or parts.", param=where)
            if role == "assistant" and out and out[-1].get("role") == "assistant":
                prev = out[-1]
                prev["content"] = (prev.get("content") or "") + (
                    content if isinstance(content, str) else ""
                )
            else:
                out.append({"role": role, "content": content})
        elif kind == "function_call":
            call = {
                "id": item.get("call_id"),
                "type": "function",
                "function": {"name": item.get("name"), "arguments": item.get("arguments", "")},
            }
            last = out[-1] if out else None
            if last is not None and last.get("role") == "assistant":
                last.setdefault("tool_calls", []).append(call)
            else:
                out.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            output = item.get("output", "")
            if isinstance(output, list):
                output = _text_of_parts(output, f"{where}.output")
            out.append({"role": "tool", "tool_call_id": item.get("call_id"), "content": output})
        elif kind == "reasoning":
            continue  # reasoning items only mean something to the model that wrote them
        else:
            raise UnsupportedParamError(
                f"{where}: input item type {kind!r} is not supported by this gateway.",
                param=where,
            )
    return out


def _tools(tools: Any) -> list[dict[str, Any]]:
    if not isinstance(tools, list):
        raise BadRequestError("'tools' must be an array.", param="tools")
    out = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict) or tool.get("type") != "function":
            kind = tool.get("type") if isinstance(tool, dict) else None
            raise UnsupportedParamError(
                f"tools[{i}]: tool type {kind!r} runs inside OpenAI's service and is not"
                " available through this gateway; only function tools are.",
                param=f"tools[{i}]",
            )
        fn: dict[str, Any] = {"name": tool.get("name")}
        for key in ("description", "parameters", "strict"):
            if tool.get(key) is not None:
                fn[key] = tool[key]
        out.append({"type": "function", "function": fn})
    return out


def _tool_choice(choice: Any) -> Any:
    if isinstance(choice, dict) and choice.get("type") == "function":
        return {"type": "function", "function": {"name": choice.get("name")}}
    return choice


def _response_format(text: Any) -> dict[str, Any] | None:
    fmt = text.get("format") if isinstance(text, dict) else None
    if not isinstance(fmt, dict) or fmt.get("type") in (None, "text"):
        return None
    if fmt.get("type") == "json_object":
        return {"type": "json_object"}
    if fmt.get("type") == "json_schema":
        spec = {k: fmt[k] for k in ("name", "schema", "strict", "description") if k in fmt}
        return {"type": "json_schema", "json_schema": spec}
    raise BadRequestError(f"text.format type {fmt.get('type')!r} is not valid.", param="text")


def parse_responses_request(body: Any) -> ResponsesRequest:
    """Validate a Responses body and build its chat form."""
    if not isinstance(body, dict):
        raise BadRequestError("Request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequestError("'model' is required and must be a non-empty string.", param="model")
    if "input" not in body:
        raise BadRequestError("'input' is required.", param="input")
    instructions = body.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise BadRequestError("'instructions' must be a string.", param="instructions")
    previous = body.get("previous_response_id")
    if previous is not None and not isinstance(previous, str):
        raise BadRequestError(
            "'previous_response_id' must be a string.", param="previous_response_id"
        )
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise BadRequestError("'stream' must be a boolean.", param="stream")
    store = body.get("store", True)
    input_messages = _input_messages(body["input"])
    chat: dict[str, Any] = {"model": model}
    for key in _SAME_NAME:
        if body.get(key) is not None:
            chat[key] = body[key]
    if body.get("max_output_tokens") is not None:
        chat["max_completion_tokens"] = body["max_output_tokens"]
    if body.get("tools"):
        chat["tools"] = _tools(body["tools"])
    if body.get("tool_choice") is not None and chat.get("tools"):
        chat["tool_choice"] = _tool_choice(body["tool_choice"])
    response_format = _response_format(body.get("text"))
    if response_format is not None:
        chat["response_format"] = response_format
    reasoning = body.get("reasoning")
    if isinstance(reasoning, dict) and reasoning.get("effort"):
        chat["reasoning_effort"] = reasoning["effort"]
    if stream:
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}
    echo = {
        "instructions": instructions,
        "metadata": body.get("metadata") or {},
        "tools": body.get("tools") or [],
        "tool_choice": body.get("tool_choice", "auto"),
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "temperature": body.get("temperature"),
        "top_p": body.get("top_p"),
        "max_output_tokens": body.get("max_output_tokens"),
        "previous_response_id": previous,
        "text": body.get("text") or {"format": {"type": "text"}},
        "user": body.get("user"),
        "store": bool(store),
        "reasoning": reasoning or {"effort": None, "summary": None},
    }
    return ResponsesRequest(
        model=model,
        chat=chat,
        input_messages=input_messages,
        instructions=instructions,
        previous_response_id=previous,
        store=bool(store),
        stream=stream,
        echo=echo,
    )
