"""Lossless prompt compression (pure): what the model reads is unchanged in meaning.

* Whitespace: Windows line ends become ``\\n``, trailing spaces and tabs go, and a
  run of blank lines becomes one; indentation is kept (code stays code).
* Tool results: a result identical to an earlier one in the same conversation (the
  model has read it already) becomes a short pointer to that call.

Both are functions of a message and the messages before it, so every request of a
growing chat compresses its earlier turns the same way: the provider's cached prefix
stays the same from one request to the next.  Only messages that change are copied.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = ["Compressed", "compress_anthropic", "compress_canonical", "normalise_whitespace"]

_TRAILING = re.compile(r"[ \t]+$", re.MULTILINE)
_BLANK_RUNS = re.compile(r"\n{3,}")
#: shorter results are cheaper to repeat than to point at
_MIN_REPEAT_CHARS = 80


def normalise_whitespace(text: str) -> str:
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    text = _TRAILING.sub("", text)
    return _BLANK_RUNS.sub("\n\n", text).strip("\n")


def _same_or(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``old`` itself when no message changed (so callers can tell by identity)."""
    return old if all(a is b for a, b in zip(old, new, strict=True)) else new


def _pointer(call_id: Any) -> str:
    return f"[The same result as tool call {call_id} above.]"


@dataclass(slots=True)
class Compressed:
    messages: list[dict[str, Any]]
    #: tool results replaced by a pointer
    repeats: int = 0


def _parts(content: list[Any]) -> list[Any]:
    out = []
    for p in content:
        if isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str):
            text = normalise_whitespace(p["text"])
            out.append(p if text == p["text"] else {**p, "text": text})
        else:
            out.append(p)
    return out


def _content(content: Any) -> Any:
    if isinstance(content, str):
        return normalise_whitespace(content)
    if isinstance(content, list):
        parts = _parts(content)
        return content if all(a is b for a, b in zip(parts, content, strict=True)) else parts
    return content


def compress_canonical(messages: list[dict[str, Any]]) -> Compressed:
    """OpenAI-shaped messages, compressed."""
    seen: dict[str, Any] = {}
    out: list[dict[str, Any]] = []
    repeats = 0
    for msg in messages:
        content = _content(msg.get("content"))
        if msg.get("role") == "tool" and isinstance(content, str):
            first = seen.get(content)
            if first is not None and len(content) >= _MIN_REPEAT_CHARS:
                content, repeats = _pointer(first), repeats + 1
            elif first is None:
                seen[content] = msg.get("tool_call_id")
        out.append(msg if content is msg.get("content") else {**msg, "content": content})
    return Compressed(_same_or(messages, out), repeats)


def _result_text(content: Any) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(
        isinstance(b, dict) and b.get("type") == "text" for b in content
    ):
        return "".join(str(b.get("text", "")) for b in content)
    return None  # images and documents are never replaced


def compress_anthropic(messages: list[dict[str, Any]]) -> Compressed:
    """Anthropic Messages-shaped messages, compressed."""
    seen: dict[str, Any] = {}
    out: list[dict[str, Any]] = []
    repeats = 0
    for msg in messages:
        content = msg.get("content")
        if not isinstance(content, list):
            new = _content(content)
            out.append(msg if new is content else {**msg, "content": new})
            continue
        blocks: list[Any] = []
        for block in content:
            if not isinstance(block, dict) or block.get("type") != "tool_result":
                blocks.append(_parts([block])[0])
                continue
            inner = _content(block.get("content"))
            text = _result_text(inner)
            if text is not None and not block.get("is_error"):
                first = seen.get(text)
                if first is not None and len(text) >= _MIN_REPEAT_CHARS:
                    inner, repeats = _pointer(first), repeats + 1
                elif first is None:
                    seen[text] = block.get("tool_use_id")
            blocks.append(block if inner is block.get("content") else {**block, "content": inner})
        same = all(a is b for a, b in zip(blocks, content, strict=True))
        out.append(msg if same else {**msg, "content": blocks})
    return Compressed(_same_or(messages, out), repeats)
