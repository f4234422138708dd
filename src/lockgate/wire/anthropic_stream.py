"""Anthropic streaming events <-> canonical OpenAI ``chat.completion.chunk`` dicts.

Both directions are small state machines fed one item at a time, so they work on
live streams without buffering the answer.
"""

from __future__ import annotations

import time
from typing import Any

from lockgate.chat import Chunk, Usage, usage_from_openai
from lockgate.errors import UpstreamError, UpstreamOverloadedError
from lockgate.wire.anthropic_response import (
    FINISH_TO_STOP,
    STOP_TO_FINISH,
    anthropic_usage,
    usage_from_anthropic,
)

__all__ = ["AnthropicEvent", "AnthropicToChunks", "ChunksToAnthropic"]

AnthropicEvent = tuple[str, dict[str, Any]]
_INPUT_FIELDS = ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")


class AnthropicToChunks:
    """Provider side: Anthropic SSE events in, OpenAI chunks out.

    Event and block types it does not know are skipped (Anthropic adds new ones;
    the documented rule is to ignore them).  With ``json_tool`` the deltas of that
    tool's call become content (``response_format`` answers).
    """

    def __init__(self, model: str, json_tool: str | None = None) -> None:
        self.model = model
        self.id = "chatcmpl-lockgate"
        self.created = int(time.time())
        self.usage = Usage()
        self._tool_index = -1
        self._finish: str | None = None
        self._json_tool = json_tool
        self._json_block = False
        self._structured = False
        self.done = False

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> Chunk:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        }

    def feed(self, event: str, data: dict[str, Any]) -> list[Chunk]:
        kind = data.get("type", event)
        if kind == "message_start":
            msg = data.get("message") or {}
            self.id = str(msg.get("id") or self.id)
            self.usage = usage_from_anthropic(msg.get("usage"))
            return [self._chunk({"role": "assistant", "content": ""})]
        if kind == "content_block_start":
            block = data.get("content_block") or {}
            self._json_block = False
            if block.get("type") == "tool_use" and self._json_tool == block.get("name"):
                self._json_block = self._structured = True
                return []
            if block.get("type") == "tool_use":
                self._tool_index += 1
                call = {
                    "index": self._tool_index,
                    "id": block.get("id"),
                    "type": "function",
                    "function": {"name": block.get("name"), "arguments": ""},
                }
                return [self._chunk({"tool_calls": [call]})]
            if block.get("type") == "text" and block.get("text"):
                return [self._chunk({"content": block["text"]})]
            return []
        if kind == "content_block_delta":
            delta = data.get("delta") or {}
            if delta.get("type") == "text_delta":
                return [self._chunk({"content": delta.get("text", "")})]
            if delta.get("type") == "thinking_delta":
                return [self._chunk({"reasoning_content": delta.get("thinking", "")})]
            if delta.get("type") == "input_json_delta" and self._json_block:
                return [self._chunk({"content": delta.get("partial_json", "")})]
            if delta.get("type") == "input_json_delta":
                call = {
                    "index": self._tool_index,
                    "function": {"arguments": delta.get("partial_json", "")},
                }
                return [self._chunk({"tool_calls": [call]})]
            return []
        if kind == "message_delta":
            delta = data.get("delta") or {}
            usage = data.get("usage") or {}
            if "output_tokens" in usage:
                self.usage.completion_tokens = int(usage["output_tokens"] or 0)
            if any(usage.get(k) for k in _INPUT_FIELDS):
                # Newer APIs repeat the (cumulative) input counts here: they win.
                output = self.usage.completion_tokens
                self.usage = usage_from_anthropic({**usage, "output_tokens": output})
            if delta.get("stop_reason"):
                self._finish = STOP_TO_FINISH.get(str(delta["stop_reason"]), "stop")
                if self._finish == "tool_calls" and self._structured and self._tool_index < 0:
                    self._finish = "stop"
                return [self._chunk({}, self._finish)]
            return []
        if kind == "message_stop":
            self.done = True
            usage_chunk: Chunk = {
                "id": self.id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.model,
                "choices": [],
                "usage": self.usage.to_openai(),
            }
            return [usage_chunk]
        if kind == "error":
            err = data.get("error") or {}
            message = f"upstream stream error: {err.get('message', 'unknown')}"
            if err.get("type") == "overloaded_error":
                raise UpstreamOverloadedError(message)
            raise UpstreamError(message)
        # ping, content_block_stop, and event types newer than this translator
        return []


class ChunksToAnthropic:
    """API side: OpenAI chunks in, Anthropic SSE events out (for /v1/messages clients)."""

    def __init__(self, model: str, message_id: str) -> None:
        self.model = model
        self.message_id = message_id
        self._started = False
        self._block_index = -1
        self._block_kind: str | None = None
        self._tool_blocks: dict[int, int] = {}
        self._finish: str | None = None
        self.usage = Usage()

    def _start(self) -> list[AnthropicEvent]:
        self._started = True
        message: dict[str, Any] = {
            "id": self.message_id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        return [
            ("message_start", {"type": "message_start", "message": message}),
            ("ping", {"type": "ping"}),
        ]

    def _close_block(self) -> list[AnthropicEvent]:
        if self._block_kind is None:
            return []
        self._block_kind = None
        return [("content_block_stop", {"type": "content_block_stop", "index": self._block_index})]

    def _open_block(self, block: dict[str, Any]) -> list[AnthropicEvent]:
        events = self._close_block()
        self._block_index += 1
        self._block_kind = block["type"]
        events.append(
            (
                "content_block_start",
                {"type": "content_block_start", "index": self._block_index, "content_block": block},
            )
        )
        return events

    def feed(self, chunk: Chunk) -> list[AnthropicEvent]:
        events = [] if self._started else self._start()
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            self.usage = usage_from_openai(usage)
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            text = delta.get("content")
            if text:
                if self._block_kind != "text":
                    events += self._open_block({"type": "text", "text": ""})
                events.append(
                    (
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": self._block_index,
                            "delta": {"type": "text_delta", "text": text},
                        },
                    )
                )
            for call in delta.get("tool_calls") or ():
                idx = int(call.get("index", 0))
                fn = call.get("function") or {}
                if idx not in self._tool_blocks:
                    events += self._open_block(
                        {
                            "type": "tool_use",
                            "id": call.get("id"),
                            "name": fn.get("name"),
                            "input": {},
                        }
                    )
                    self._tool_blocks[idx] = self._block_index
                if fn.get("arguments"):
                    events.append(
                        (
                            "content_block_delta",
                            {
                                "type": "content_block_delta",
                                "index": self._tool_blocks[idx],
                                "delta": {
                                    "type": "input_json_delta",
                                    "partial_json": fn["arguments"],
                                },
                            },
                        )
                    )
            if choice.get("finish_reason"):
                self._finish = choice["finish_reason"]
        return events

    def finish(self) -> list[AnthropicEvent]:
        """The closing events, once the chunk stream has ended cleanly."""
        events = [] if self._started else self._start()
        events += self._close_block()
        events.append(
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {
                        "stop_reason": FINISH_TO_STOP.get(str(self._finish), "end_turn"),
                        "stop_sequence": None,
                    },
                    "usage": anthropic_usage(self.usage),
                },
            )
        )
        events.append(("message_stop", {"type": "message_stop"}))
        return events
