"""Anthropic's prompt cache, simulated: what a request reads from and writes to it.

A request is a run of blocks in Anthropic's order (tools, system, then each
message's content blocks).  Each ``cache_control`` mark ends a prefix; a prefix
seen before (same blocks, marks aside) is read, and every marked prefix past what
was read is written.  Prefixes shorter than ``min_tokens`` are not cached, as at
Anthropic (1,024 tokens for most models).  Tokens are about four characters.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

__all__ = ["AnthropicCacheSim", "blocks_of", "shared_prefix_tokens"]


def _tokens(text: str) -> int:
    return max(1, (len(text) + 3) // 4)


def blocks_of(body: dict[str, Any]) -> list[tuple[str, int, Any]]:
    """(block JSON without its mark, its tokens, its mark or None), in cache order."""
    out: list[tuple[str, int, Any]] = []

    def add(item: Any, role: str = "") -> None:
        if isinstance(item, dict):
            mark = item.get("cache_control")
            bare = {k: v for k, v in item.items() if k != "cache_control"}
        else:
            mark, bare = None, item
        text = role + json.dumps(bare, sort_keys=True)
        out.append((text, _tokens(text), mark))

    for tool in body.get("tools") or ():
        add(tool)
    system = body.get("system")
    if isinstance(system, str) and system:
        add({"type": "text", "text": system})
    elif isinstance(system, list):
        for block in system:
            add(block)
    for msg in body.get("messages") or ():
        content = msg.get("content")
        if isinstance(content, str):
            add({"type": "text", "text": content}, msg.get("role", ""))
        else:
            for block in content or ():
                add(block, msg.get("role", ""))
    return out


def shared_prefix_tokens(a: dict[str, Any], b: dict[str, Any]) -> int:
    """Tokens of the blocks two Anthropic bodies share from the start."""
    shared = 0
    for (x, n, _), (y, _, _) in zip(blocks_of(a), blocks_of(b), strict=False):
        if x != y:
            break
        shared += n
    return shared


class AnthropicCacheSim:
    def __init__(self, min_tokens: int = 1024) -> None:
        self.min_tokens = min_tokens
        self._cached: set[str] = set()

    def usage(self, body: dict[str, Any]) -> dict[str, Any]:
        blocks = blocks_of(body)
        digest = hashlib.sha256()
        total = 0
        marks: list[tuple[str, int, Any]] = []  # (prefix hash, prefix tokens, mark)
        for text, n, mark in blocks:
            digest.update(text.encode())
            total += n
            if mark is not None:
                marks.append((digest.copy().hexdigest(), total, mark))
        read = max((t for h, t, _ in marks if h in self._cached), default=0)
        write = write_1h = 0
        for h, t, mark in marks:
            if t > read and t >= self.min_tokens and h not in self._cached:
                self._cached.add(h)
                grown = t - read - write
                write += grown
                if isinstance(mark, dict) and mark.get("ttl") == "1h":
                    write_1h += grown
        usage: dict[str, Any] = {
            "input_tokens": total - read - write,
            "cache_creation_input_tokens": write,
            "cache_read_input_tokens": read,
        }
        if write:
            usage["cache_creation"] = {
                "ephemeral_5m_input_tokens": write - write_1h,
                "ephemeral_1h_input_tokens": write_1h,
            }
        return usage
