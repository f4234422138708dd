"""Anthropic prompt-cache breakpoints (``cache_control``) in a canonical chat body.

The canonical form carries them where LiteLLM's OpenAI shape does: on content
parts, on tools and on whole messages.  An OpenAI-wire upstream has no such field
(OpenAI caches prefixes by itself, steered by ``prompt_cache_key``), so marks
that a translation from Anthropic's wire put there are taken off again before
the body leaves; a mark an OpenAI client wrote itself is its own and is sent on.
"""

from __future__ import annotations

from typing import Any

__all__ = ["count_marks", "strip_cache_control"]

_MARK = "cache_control"


def _unmarked(item: Any) -> Any:
    if isinstance(item, dict) and _MARK in item:
        return {k: v for k, v in item.items() if k != _MARK}
    return item


def _message(msg: Any) -> Any:
    out = _unmarked(msg)
    content = out.get("content") if isinstance(out, dict) else None
    if isinstance(content, list) and any(isinstance(p, dict) and _MARK in p for p in content):
        out = {**out, "content": [_unmarked(p) for p in content]}
    return out


def strip_cache_control(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` without any ``cache_control``; untouched (the same object) when it has none.

    Only the lists and dicts that held a mark are copied.
    """
    if count_marks(body) == 0:
        return body
    out = dict(body)
    out["messages"] = [_message(m) for m in body.get("messages") or ()]
    tools = body.get("tools")
    if isinstance(tools, list):
        out["tools"] = [_unmarked(t) for t in tools]
    return out


def count_marks(body: dict[str, Any]) -> int:
    """How many ``cache_control`` breakpoints a canonical body carries."""
    n = 0
    for msg in body.get("messages") or ():
        if not isinstance(msg, dict):
            continue
        n += _MARK in msg
        content = msg.get("content")
        if isinstance(content, list):
            n += sum(1 for p in content if isinstance(p, dict) and _MARK in p)
    tools = body.get("tools")
    if isinstance(tools, list):
        n += sum(1 for t in tools if isinstance(t, dict) and _MARK in t)
    return n
