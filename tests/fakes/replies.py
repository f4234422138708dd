"""Pure, deterministic reply logic shared by both wire formats."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

__all__ = [
    "TOOL_TRIGGER",
    "Reply",
    "estimate_tokens",
    "example_arguments",
    "last_user_text",
    "plan_text_reply",
    "text_of",
]

# The last user message must contain this for the fake to call a tool.
TOOL_TRIGGER = "CALL_TOOL"


def text_of(content: Any) -> str:
    """Flatten an OpenAI or Anthropic message content (string or list of parts) to text."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts: list[str] = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict):
                if isinstance(part.get("text"), str):
                    parts.append(part["text"])
                elif "content" in part:  # Anthropic tool_result
                    parts.append(text_of(part["content"]))
        return " ".join(parts)
    return str(content)


def last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return text_of(message.get("content"))
    return ""


def estimate_tokens(text: str) -> int:
    """About four characters a token, as the providers' rule of thumb says."""
    return max(1, (len(text) + 3) // 4)


@dataclass(frozen=True)
class Reply:
    """What the fake answers: words to send (one token each) and whether max_tokens cut them."""

    words: list[str]
    truncated: bool

    @property
    def text(self) -> str:
        return " ".join(self.words)

    @property
    def output_tokens(self) -> int:
        return len(self.words)

    def pieces(self) -> list[str]:
        """Stream deltas: one word each, spaces kept so the pieces join back to ``text``."""
        return [w if i == 0 else " " + w for i, w in enumerate(self.words)]


def plan_text_reply(user_text: str, max_tokens: int | None) -> Reply:
    """``"echo: <last user text>"``, cut to ``max_tokens`` words when that is smaller."""
    words = ["echo:", *user_text.split()]
    if max_tokens is not None and len(words) > max_tokens:
        return Reply(words[: max(max_tokens, 0)], truncated=True)
    return Reply(words, truncated=False)


def example_arguments(schema: Any) -> dict[str, Any]:
    """A deterministic value for every property of a JSON-schema object."""
    samples = {"string": "test", "integer": 1, "number": 1.5, "boolean": True}
    if not isinstance(schema, dict):
        return {}
    props = schema.get("properties") or {}
    out: dict[str, Any] = {}
    for name, spec in props.items():
        kind = spec.get("type") if isinstance(spec, dict) else None
        if isinstance(spec, dict) and spec.get("enum"):
            out[name] = spec["enum"][0]
        else:
            out[name] = samples.get(kind) if isinstance(kind, str) else None
    return out


def stable_id(prefix: str, *parts: str, length: int = 24) -> str:
    digest = hashlib.sha256("\x00".join(parts).encode()).hexdigest()
    return f"{prefix}{digest[:length]}"


def compact_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))
