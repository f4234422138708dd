"""A prompt's messages seen by the budget: token counts, roles, turns and marks."""

from __future__ import annotations

from typing import Any

import orjson

from lockgate.contextbudget.truncation import PromptShape
from lockgate.tokens import estimate_message_tokens

__all__ = ["anthropic_shape", "canonical_shape", "estimate_canonical"]

_PER_MESSAGE = 4


def _marked(msg: Any) -> bool:
    if not isinstance(msg, dict):
        return False
    if "cache_control" in msg:
        return True
    content = msg.get("content")
    return isinstance(content, list) and any(
        isinstance(b, dict) and "cache_control" in b for b in content
    )


def _last_mark(messages: list[dict[str, Any]]) -> int:
    return max((i for i, m in enumerate(messages) if _marked(m)), default=-1)


def estimate_canonical(body: dict[str, Any]) -> tuple[list[int], int]:
    """Estimated tokens per message (about four characters a token) and of the rest."""
    counts = [estimate_message_tokens([m]) - 3 for m in body.get("messages") or ()]
    tools = body.get("tools")
    return counts, 3 + (len(orjson.dumps(tools)) // 4 if tools else 0)


def canonical_shape(body: dict[str, Any], counts: list[int], fixed: int) -> PromptShape:
    messages = body["messages"]
    return PromptShape(
        tokens=counts,
        system=[m.get("role") in ("system", "developer") for m in messages],
        turn_starts=[i for i, m in enumerate(messages) if m.get("role") == "user"],
        last_mark=_last_mark(messages),
        fixed=fixed,
    )


def _anthropic_tokens(msg: dict[str, Any]) -> int:
    content = msg.get("content")
    if isinstance(content, str):
        return _PER_MESSAGE + (len(content) + 3) // 4
    return _PER_MESSAGE + len(orjson.dumps(content)) // 4


def _opens_turn(msg: dict[str, Any]) -> bool:
    if msg.get("role") != "user":
        return False
    content = msg.get("content")
    return not (
        isinstance(content, list)
        and content
        and all(isinstance(b, dict) and b.get("type") == "tool_result" for b in content)
    )


def anthropic_shape(body: dict[str, Any]) -> PromptShape:
    """A native Anthropic body (estimated: Anthropic's tokenizer is not published)."""
    messages = body["messages"]
    fixed = 3
    for name in ("system", "tools"):
        if body.get(name):
            value = body[name]
            fixed += (len(value) if isinstance(value, str) else len(orjson.dumps(value))) // 4
    return PromptShape(
        tokens=[_anthropic_tokens(m) for m in messages],
        system=[False] * len(messages),
        turn_starts=[i for i, m in enumerate(messages) if _opens_turn(m)],
        last_mark=_last_mark(messages),
        fixed=fixed,
    )
