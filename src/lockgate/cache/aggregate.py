"""Fold a stream of ``chat.completion.chunk`` dicts into one ``chat.completion``.

Pure and incremental (``add`` one chunk at a time), so it serves the cache
(store a streamed answer), accounting (usage of a stream) and anyone else who
needs the whole answer.  Merge rules, per choice index:

* ``content``, ``refusal`` and other string fields of the delta concatenate;
  a field only ever seen as ``null`` stays ``null``;
* ``tool_calls`` merge by their ``index``: ``id``, ``type`` and
  ``function.name`` are taken from the first delta carrying them,
  ``function.arguments`` concatenate;
* the legacy ``function_call`` concatenates its ``arguments`` likewise;
* list fields (``annotations``) extend, ``logprobs.content``/``refusal`` extend;
* the last non-null ``finish_reason`` and the last non-null ``usage`` win.
"""

from __future__ import annotations

from typing import Any

from lockgate.chat import Chunk

__all__ = ["StreamAggregator", "aggregate_chunks"]

_TOP_LEVEL = ("system_fingerprint", "service_tier")


class _Choice:
    __slots__ = (
        "finish_reason",
        "function_call",
        "index",
        "logprobs",
        "message",
        "parts",
        "tools",
    )

    def __init__(self, index: int) -> None:
        self.index = index
        self.message: dict[str, Any] = {"role": "assistant", "content": None}
        # String fields gather their pieces here and are joined once, in result().
        self.parts: dict[str, list[str]] = {}
        self.tools: dict[int, dict[str, Any]] = {}
        self.function_call: dict[str, Any] | None = None
        self.finish_reason: str | None = None
        self.logprobs: dict[str, Any] | None = None

    def add(self, choice: dict[str, Any]) -> None:
        delta = choice.get("delta")
        if isinstance(delta, dict):
            for name, value in delta.items():
                if name == "tool_calls":
                    if isinstance(value, list):
                        self._tool_calls(value)
                elif name == "function_call":
                    if isinstance(value, dict):
                        self._function_call(value)
                else:
                    self._field(name, value)
        reason = choice.get("finish_reason")
        if reason is not None:
            self.finish_reason = reason
        logprobs = choice.get("logprobs")
        if isinstance(logprobs, dict):
            self._logprobs(logprobs)

    def _field(self, name: str, value: Any) -> None:
        msg = self.message
        if isinstance(value, str) and name != "role":
            parts = self.parts.get(name)
            if parts is None:
                self.parts[name] = [value]
                msg.setdefault(name, None)
            else:
                parts.append(value)
            return
        old = msg.get(name)
        if isinstance(value, list):
            msg[name] = [*old, *value] if isinstance(old, list) else list(value)
        elif value is not None or name not in msg:
            msg[name] = value

    def _tool_calls(self, deltas: list[Any]) -> None:
        for delta in deltas:
            if not isinstance(delta, dict):
                continue
            index = delta.get("index", len(self.tools))
            call = self.tools.get(index)
            if call is None:
                call = self.tools[index] = {"id": None, "type": "function"}
                call["function"] = {"name": "", "arguments": ""}
            if delta.get("id"):
                call["id"] = call["id"] or delta["id"]
            if delta.get("type"):
                call["type"] = delta["type"]
            fn = delta.get("function")
            if isinstance(fn, dict):
                target = call["function"]
                if fn.get("name") and not target["name"]:
                    target["name"] = fn["name"]
                if isinstance(fn.get("arguments"), str):
                    target["arguments"] += fn["arguments"]

    def _function_call(self, delta: dict[str, Any]) -> None:
        if self.function_call is None:
            self.function_call = {"name": "", "arguments": ""}
        if delta.get("name") and not self.function_call["name"]:
            self.function_call["name"] = delta["name"]
        if isinstance(delta.get("arguments"), str):
            self.function_call["arguments"] += delta["arguments"]

    def _logprobs(self, logprobs: dict[str, Any]) -> None:
        if self.logprobs is None:
            self.logprobs = {}
        for name, value in logprobs.items():
            old = self.logprobs.get(name)
            if isinstance(value, list):
                self.logprobs[name] = [*old, *value] if isinstance(old, list) else list(value)
            elif name not in self.logprobs:
                self.logprobs[name] = value

    def result(self) -> dict[str, Any]:
        message = dict(self.message)
        for name, parts in self.parts.items():
            message[name] = "".join(parts)
        if self.tools:
            message["tool_calls"] = [self.tools[i] for i in sorted(self.tools)]
        if self.function_call is not None:
            message["function_call"] = self.function_call
        return {
            "index": self.index,
            "message": message,
            "logprobs": self.logprobs,
            "finish_reason": self.finish_reason,
        }


class StreamAggregator:
    """Feed chunks with ``add``; read the assembled completion with ``result``."""

    def __init__(self) -> None:
        self._choices: dict[int, _Choice] = {}
        self._head: dict[str, Any] = {}
        self.usage: dict[str, Any] | None = None
        self.chunks = 0

    def add(self, chunk: Chunk) -> None:
        """Fold one ``chat.completion.chunk`` in."""
        self.chunks += 1
        head = self._head
        if not head:
            head["id"] = chunk.get("id")
            head["created"] = chunk.get("created")
            head["model"] = chunk.get("model")
        for name in _TOP_LEVEL:
            if name in chunk and (chunk[name] is not None or name not in head):
                head[name] = chunk[name]
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            self.usage = usage
        for raw in chunk.get("choices") or ():
            if not isinstance(raw, dict):
                continue
            index = raw.get("index", 0)
            choice = self._choices.get(index)
            if choice is None:
                choice = self._choices[index] = _Choice(index)
            choice.add(raw)

    @property
    def finished(self) -> bool:
        """At least one choice, and every choice has a finish_reason."""
        return bool(self._choices) and all(c.finish_reason for c in self._choices.values())

    @property
    def finish_reasons(self) -> list[str | None]:
        return [self._choices[i].finish_reason for i in sorted(self._choices)]

    def result(self) -> dict[str, Any]:
        """The ``chat.completion`` assembled so far (safe to call at any time)."""
        head = self._head
        out: dict[str, Any] = {
            "id": head.get("id"),
            "object": "chat.completion",
            "created": head.get("created"),
            "model": head.get("model"),
            "choices": [self._choices[i].result() for i in sorted(self._choices)],
        }
        for name in _TOP_LEVEL:
            if name in head:
                out[name] = head[name]
        if self.usage is not None:
            out["usage"] = self.usage
        return out


def aggregate_chunks(chunks: list[Chunk]) -> dict[str, Any]:
    """The completion of a whole list of chunks."""
    agg = StreamAggregator()
    for chunk in chunks:
        agg.add(chunk)
    return agg.result()
