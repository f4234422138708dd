"""Anthropic prompt-cache breakpoints (``cache_control``) in a canonical chat body.

The canonical form carries them where LiteLLM's OpenAI shape does: on content
parts, on tools and on whole messages.  An OpenAI-wire upstream has no such field
(OpenAI caches prefixes by itself, steered by ``prompt_cache_key``), so marks
that a translation from Anthropic's wire put there are taken off again before
the body leaves; a mark an OpenAI client wrote itself is its own and is sent on
(OpenAI-compatible routers such as OpenRouter hand them to Claude).

``mark_anthropic`` places breakpoints for ``auto_cache``.  Anthropic caches the prefix
of a request up to each mark, in its order: tools, then system, then messages; at
most four marks.  For a client that sets none (Claude Code style agents, OpenAI-SDK
clients), the stable parts get one each: the last tool, the system prompt, and two
rolling marks on the conversation (the message the previous request ended with, and
the last one), so the next turn's request finds this one's whole prefix cached: its
"previous" mark covers exactly the prefix this request's "last" mark wrote.  It runs
in the Anthropic provider on the body about to be sent, so a fallback to another
provider never sees a mark the client did not write.  The client's objects are never
changed: the lists and dicts that get a mark are copied.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MAX_BREAKPOINTS", "has_marks", "mark_anthropic", "strip_cache_control"]

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
    if not has_marks(body):
        return body
    out = dict(body)
    out["messages"] = [_message(m) for m in body.get("messages") or ()]
    tools = body.get("tools")
    if isinstance(tools, list):
        out["tools"] = [_unmarked(t) for t in tools]
    return out


#: Anthropic's limit on cache_control marks in one request
MAX_BREAKPOINTS = 4


def _has(item: Any) -> bool:
    return isinstance(item, dict) and _MARK in item


def has_marks(body: dict[str, Any]) -> bool:
    """Whether a body (either shape) already carries a ``cache_control`` anywhere."""
    if any(_has(t) for t in body.get("tools") or ()):
        return True
    system = body.get("system")
    if isinstance(system, list) and any(_has(b) for b in system):
        return True
    for msg in body.get("messages") or ():
        if _has(msg):
            return True
        content = msg.get("content") if isinstance(msg, dict) else None
        if isinstance(content, list) and any(_has(b) for b in content):
            return True
    return False


def _turn_marks(roles: list[str], budget: int) -> list[int]:
    """Messages to mark: the last one, and the one the previous request ended with
    (the message before the last assistant turn)."""
    if budget <= 0 or not roles:
        return []
    last = len(roles) - 1
    picks = [last]
    answer = max((i for i in range(last) if roles[i] == "assistant"), default=-1)
    if budget > 1 and answer >= 1:
        picks.insert(0, answer - 1)
    return picks


def _mark_content(content: Any, mark: dict[str, Any]) -> Any:
    if isinstance(content, str):
        return [{"type": "text", "text": content, _MARK: mark}] if content else content
    if isinstance(content, list) and content and isinstance(content[-1], dict):
        if content[-1].get("type") in ("thinking", "redacted_thinking"):
            return content  # thinking blocks cannot carry a mark
        return [*content[:-1], {**content[-1], _MARK: mark}]
    return content


def mark_anthropic(body: dict[str, Any], mark: dict[str, Any]) -> dict[str, Any]:
    """A native Anthropic Messages body with breakpoints; the same object when it had some."""
    if has_marks(body):
        return body
    out = dict(body)
    budget = MAX_BREAKPOINTS
    tools = body.get("tools")
    if isinstance(tools, list) and tools and isinstance(tools[-1], dict):
        out["tools"] = [*tools[:-1], {**tools[-1], _MARK: mark}]
        budget -= 1
    system = body.get("system")
    if system:
        out["system"] = _mark_content(system, mark)
        budget -= 1
    messages = list(body.get("messages") or ())
    roles = [str(m.get("role")) for m in messages]
    for i in _turn_marks(roles, budget):
        messages[i] = {**messages[i], "content": _mark_content(messages[i].get("content"), mark)}
    out["messages"] = messages
    return out
