"""Which cached answers a request may be compared with, and which text to embed.

Two requests can share a semantic hit only if everything except the wording of
the last user turn is identical: tenant, model alias, system/developer prompts,
earlier turns, tools and the sampling and format parameters. All of that is
hashed into the *partition key*; only the last user turn is embedded. Earlier
turns go into the hash rather than the embedding because "and in Python?" means
different things after different conversations, and an embedding of a long
context would blur exactly the difference that matters (precision first).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from lockgate.chat import ChatRequest

__all__ = ["SemanticQuery", "partition_key", "semantic_query"]

# Fields that do not change what the answer is: transport and bookkeeping.
_IGNORED_FIELDS = frozenset(
    {"messages", "stream", "stream_options", "user", "metadata", "store", "service_tier"}
)


@dataclass(frozen=True, slots=True)
class SemanticQuery:
    """The part of a request the semantic cache looks at."""

    partition: str
    text: str


def _text_of(message: dict[str, Any]) -> str | None:
    """Plain text of a message; ``None`` if it carries images, audio or files."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts: list[str] = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text":
                return None
            text = part.get("text")
            if not isinstance(text, str):
                return None
            parts.append(text)
        return "\n".join(parts)
    return None


def partition_key(tenant: str, model: str, body: dict[str, Any], context: list[Any]) -> str:
    """A short stable hash of everything that must match exactly for a semantic hit."""
    params = {k: v for k, v in body.items() if k not in _IGNORED_FIELDS}
    blob = orjson.dumps(
        {"tenant": tenant, "model": model, "params": params, "context": context},
        option=orjson.OPT_SORT_KEYS,
    )
    return hashlib.blake2b(blob, digest_size=16).hexdigest()


def semantic_query(
    tenant: str, request: ChatRequest, *, max_chars: int = 2000
) -> SemanticQuery | None:
    """The partition and text for ``request``, or ``None`` if it must not be cached.

    Not cacheable: a last message that is not a user turn (tool results), non-text
    content, an empty or over-long question (``max_chars``: long prompts are rarely
    repeated in other words and are the costliest to get wrong).
    """
    messages = request.messages
    last = messages[-1]
    if last.get("role") != "user":
        return None
    text = _text_of(last)
    if text is None:
        return None
    text = text.strip()
    if not text or len(text) > max_chars:
        return None
    # The last turn minus its text (role, name) belongs to the exact part too.
    context = [*messages[:-1], {k: v for k, v in last.items() if k != "content"}]
    return SemanticQuery(
        partition=partition_key(tenant, request.model, request.body, context), text=text
    )
