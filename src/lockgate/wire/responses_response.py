"""Canonical chat answers -> OpenAI Responses objects and stream events.

``build_response`` turns one ``chat.completion`` into a ``response`` object;
``ChunksToResponseEvents`` turns a chunk stream into the typed events
(``response.created`` ... ``response.completed``) in the order the openai SDK's
``responses.stream`` accumulates them.
"""

from __future__ import annotations

import os
import time
from typing import Any

from lockgate.chat import Chunk, Usage, usage_from_openai

__all__ = [
    "ChunksToResponseEvents",
    "ResponseEvent",
    "assistant_message",
    "build_response",
    "new_response_id",
]

ResponseEvent = tuple[str, dict[str, Any]]

_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


def new_response_id() -> str:
    return "resp_" + os.urandom(12).hex()


def _item_id(prefix: str) -> str:
    return prefix + os.urandom(12).hex()


def _usage(usage: Usage) -> dict[str, Any]:
    return {
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {"cached_tokens": usage.cached_tokens},
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage.total_tokens,
    }


def _message_item(item_id: str, text: str, status: str) -> dict[str, Any]:
    return {
        "type": "message",
        "id": item_id,
        "status": status,
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }


def _call_item(item_id: str, call: dict[str, Any], status: str) -> dict[str, Any]:
    fn = call.get("function") or {}
    return {
        "type": "function_call",
        "id": item_id,
        "call_id": call.get("id") or item_id,
        "name": fn.get("name") or "",
        "arguments": fn.get("arguments") or "",
        "status": status,
    }


def _envelope(
    response_id: str,
    model: str,
    created: int,
    echo: dict[str, Any],
    *,
    status: str,
    output: list[dict[str, Any]],
    usage: Usage | None,
    finish: str | None,
) -> dict[str, Any]:
    reason = _INCOMPLETE.get(str(finish))
    return {
        "id": response_id,
        "object": "response",
        "created_at": created,
        "status": "incomplete" if status == "completed" and reason else status,
        "model": model,
        "output": output,
        "usage": _usage(usage) if usage is not None else None,
        "error": None,
        "incomplete_details": {"reason": reason} if reason and status == "completed" else None,
        "truncation": "disabled",
        **echo,
    }


def build_response(
    response_id: str, model: str, completion: dict[str, Any], usage: Usage, echo: dict[str, Any]
) -> dict[str, Any]:
    """A ``response`` object for one canonical ``chat.completion``."""
    choices = completion.get("choices") or [{}]
    message = choices[0].get("message") or {}
    finish = choices[0].get("finish_reason")
    status = "incomplete" if finish in _INCOMPLETE else "completed"
    output: list[dict[str, Any]] = []
    text = message.get("content")
    if isinstance(text, str) and text:
        output.append(_message_item(_item_id("msg_"), text, status))
    for call in message.get("tool_calls") or ():
        output.append(_call_item(_item_id("fc_"), call, "completed"))
    return _envelope(
        response_id,
        model,
        int(time.time()),
        echo,
        status="completed",
        output=output,
        usage=usage,
        finish=finish,
    )


def assistant_message(response: dict[str, Any]) -> dict[str, Any] | None:
    """A response's output as one chat assistant message (for previous_response_id)."""
    text: list[str] = []
    calls: list[dict[str, Any]] = []
    for item in response.get("output") or ():
        if item.get("type") == "message":
            text.extend(
                part.get("text", "")
                for part in item.get("content") or ()
                if part.get("type") == "output_text"
            )
        elif item.get("type") == "function_call":
            calls.append(
                {
                    "id": item.get("call_id"),
                    "type": "function",
                    "function": {"name": item.get("name"), "arguments": item.get("arguments")},
                }
            )
    if not text and not calls:
        return None
    message: dict[str, Any] = {"role": "assistant", "content": "".join(text) or None}
    if calls:
        message["tool_calls"] = calls
    return message


class ChunksToResponseEvents:
    """Chat chunks in, Responses stream events out; ``response`` is final after ``finish``."""

    def __init__(self, response_id: str, model: str, echo: dict[str, Any]) -> None:
        self.id = response_id
        self.model = model
        self.created = int(time.time())
        self.echo = echo
        self._seq = 0
        self._items: list[dict[str, Any]] = []
        self._text_index: int | None = None
        self._calls: dict[int, int] = {}  # chunk tool-call index -> output index
        self._finish: str | None = None
        self._usage: Usage | None = None
        self.response: dict[str, Any] | None = None

    def _event(self, kind: str, **fields: Any) -> ResponseEvent:
        self._seq += 1
        return kind, {"type": kind, "sequence_number": self._seq - 1, **fields}

    def _snapshot(self, status: str) -> dict[str, Any]:
        return _envelope(
            self.id,
            self.model,
            self.created,
            self.echo,
            status=status,
            output=list(self._items) if status != "in_progress" else [],
            usage=self._usage if status != "in_progress" else None,
            finish=self._finish,
        )

    def start(self) -> list[ResponseEvent]:
        snap = self._snapshot("in_progress")
        return [
            self._event("response.created", response=snap),
            self._event("response.in_progress", response=snap),
        ]

    def feed(self, chunk: Chunk) -> list[ResponseEvent]:
        events: list[ResponseEvent] = []
        if chunk.get("usage"):
            self._usage = usage_from_openai(chunk["usage"])
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            text = delta.get("content")
            if text:
                events += self._text(text)
            for call in delta.get("tool_calls") or ():
                events += self._call(call)
            if choice.get("finish_reason"):
                self._finish = choice["finish_reason"]
        return events

    def _text(self, text: str) -> list[ResponseEvent]:
        events: list[ResponseEvent] = []
        if self._text_index is None:
            self._text_index = len(self._items)
            item = _message_item(_item_id("msg_"), "", "in_progress")
            item["content"] = []
            self._items.append(item)
            events.append(
                self._event("response.output_item.added", output_index=self._text_index, item=item)
            )
            part = {"type": "output_text", "text": "", "annotations": []}
            item["content"].append(part)
            events.append(
                self._event(
                    "response.content_part.added",
                    item_id=item["id"],
                    output_index=self._text_index,
                    content_index=0,
                    part=dict(part),
                )
            )
        item = self._items[self._text_index]
        item["content"][0]["text"] += text
        events.append(
            self._event(
                "response.output_text.delta",
                item_id=item["id"],
                output_index=self._text_index,
                content_index=0,
                delta=text,
                logprobs=[],
            )
        )
        return events

    def _call(self, call: dict[str, Any]) -> list[ResponseEvent]:
        events: list[ResponseEvent] = []
        index = int(call.get("index", 0))
        fn = call.get("function") or {}
        out = self._calls.get(index)
        if out is None:
            out = self._calls[index] = len(self._items)
            item = _call_item(
                _item_id("fc_"), {"id": call.get("id"), "function": fn}, "in_progress"
            )
            item["arguments"] = ""
            self._items.append(item)
            events.append(
                self._event("response.output_item.added", output_index=out, item=dict(item))
            )
        item = self._items[out]
        if fn.get("arguments"):
            item["arguments"] += fn["arguments"]
            events.append(
                self._event(
                    "response.function_call_arguments.delta",
                    item_id=item["id"],
                    output_index=out,
                    delta=fn["arguments"],
                )
            )
        return events

    def finish(self) -> list[ResponseEvent]:
        """Close the open items and complete the response."""
        events: list[ResponseEvent] = []
        incomplete = self._finish in _INCOMPLETE
        for index, item in enumerate(self._items):
            if item["type"] == "message":
                part = item["content"][0]
                events.append(
                    self._event(
                        "response.output_text.done",
                        item_id=item["id"],
                        output_index=index,
                        content_index=0,
                        text=part["text"],
                        logprobs=[],
                    )
                )
                events.append(
                    self._event(
                        "response.content_part.done",
                        item_id=item["id"],
                        output_index=index,
                        content_index=0,
                        part=dict(part),
                    )
                )
                item["status"] = "incomplete" if incomplete else "completed"
            else:
                events.append(
                    self._event(
                        "response.function_call_arguments.done",
                        item_id=item["id"],
                        output_index=index,
                        name=item["name"],
                        arguments=item["arguments"],
                    )
                )
                item["status"] = "completed"
            events.append(self._event("response.output_item.done", output_index=index, item=item))
        self.response = self._snapshot("completed")
        kind = "response.incomplete" if incomplete else "response.completed"
        events.append(self._event(kind, response=self.response))
        return events
