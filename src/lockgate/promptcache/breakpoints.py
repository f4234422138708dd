"""Where ``auto_cache`` puts Anthropic's prompt-cache breakpoints (pure).

Anthropic caches the prefix of a request up to each ``cache_control`` mark, in its
order: tools, then system, then messages; at most four marks.  For a client that
sets none (Claude Code style agents, OpenAI-SDK clients), the stable parts get one
each: the last tool, the last system block, and two rolling marks on the
conversation (the message the previous request ended with, and the last one), so that
the next turn's request finds this one's whole prefix already cached: its
"previous" mark covers exactly the prefix this request's "last" mark wrote.

Both shapes are handled: the canonical (OpenAI) body, where marks ride on tools
and on whole messages as LiteLLM writes them, and a native Anthropic body.  The
client's objects are never changed: the lists and dicts that get a mark are copied.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MAX_BREAKPOINTS", "has_marks", "mark_anthropic", "mark_canonical"]

#: Anthropic's limit on cache_control marks in one request
MAX_BREAKPOINTS = 4
_MARK = "cache_control"


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


def mark_canonical(body: dict[str, Any], mark: dict[str, Any]) -> dict[str, Any]:
    """A canonical body with breakpoints; the same object when it had some already."""
    if has_marks(body):
        return body
    out = dict(body)
    budget = MAX_BREAKPOINTS
    tools = body.get("tools")
    if isinstance(tools, list) and tools and isinstance(tools[-1], dict):
        out["tools"] = [*tools[:-1], {**tools[-1], _MARK: mark}]
        budget -= 1
    messages = list(body.get("messages") or ())
    system = [i for i, m in enumerate(messages) if m.get("role") in ("system", "developer")]
    if system:
        i = system[-1]
        messages[i] = {**messages[i], _MARK: mark}
        budget -= 1
    roles = [str(m.get("role")) for m in messages]
    for i in _turn_marks(roles, budget):
        if i not in system:
            messages[i] = {**messages[i], _MARK: mark}
    out["messages"] = messages
    return out


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
