"""Model-name patterns with one ``*``: wildcard aliases and key scopes share them.

``openai/*`` matches ``openai/gpt-4o`` (the star matched ``gpt-4o``); the star must
match at least one character, so ``openai/`` alone is no match.  Pure functions.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["match", "matches_any"]


def match(pattern: str, name: str) -> str | None:
    """What ``*`` in ``pattern`` matched in ``name`` (one ``*``), or None."""
    head, star, tail = pattern.partition("*")
    if not star:
        return None
    if len(name) <= len(head) + len(tail) or not name.startswith(head):
        return None
    if tail and not name.endswith(tail):
        return None
    return name[len(head) : len(name) - len(tail)]


def matches_any(patterns: Iterable[str], name: str) -> bool:
    """Whether ``name`` is one of ``patterns`` or matches one holding a ``*``."""
    return any(p == name or ("*" in p and match(p, name) is not None) for p in patterns)
