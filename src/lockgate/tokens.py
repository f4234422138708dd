"""Cheap token estimates, used where a count is needed before the provider reports one.

Real counts always come from the provider's ``usage``; these estimates only size
reservations (token limits) and the mock provider's answers.  Four characters per
token is the usual English average for BPE vocabularies.
"""

from __future__ import annotations

from typing import Any

__all__ = ["content_text", "estimate_message_tokens", "estimate_tokens"]

_CHARS_PER_TOKEN = 4
_PER_MESSAGE_OVERHEAD = 4


def estimate_tokens(text: str) -> int:
    """Rough token count of ``text`` (at least 1 for non-empty text)."""
    if not text:
        return 0
    return max(1, (len(text) + _CHARS_PER_TOKEN - 1) // _CHARS_PER_TOKEN)


def content_text(content: Any) -> str:
    """The text of an OpenAI message ``content`` (string or list of parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"
        )
    return ""


def estimate_message_tokens(messages: list[dict[str, Any]]) -> int:
    """Rough prompt-token count of an OpenAI ``messages`` list."""
    total = 3
    for msg in messages:
        total += _PER_MESSAGE_OVERHEAD + estimate_tokens(content_text(msg.get("content")))
        for call in msg.get("tool_calls") or ():
            fn = call.get("function") or {}
            total += estimate_tokens(str(fn.get("name", ""))) + estimate_tokens(
                str(fn.get("arguments", ""))
            )
    return total
