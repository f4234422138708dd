"""What a stream delivered, for when the provider's ``usage`` never comes (pure).

A stream cut mid-way (the upstream dropped it, stalled, or the client left) ends
without the final usage chunk, yet the client got content and the provider will
bill it.  ``Delivered`` counts the text and tool-call arguments that went by, so the
request is recorded, charged against token limits and priced with an estimate of
what was delivered instead of 0 tokens and $0.
"""

from __future__ import annotations

from typing import Any

from lockgate.chat import Chunk, Usage
from lockgate.tokens import estimate_message_tokens

__all__ = ["Delivered", "unanswered_usage"]

_CHARS_PER_TOKEN = 4


class Delivered:
    """Characters of completion seen in a stream's chunks."""

    __slots__ = ("chars",)

    def __init__(self) -> None:
        self.chars = 0

    def feed(self, chunk: Chunk) -> None:
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta")
            if not delta:
                continue
            content = delta.get("content")
            if content:
                self.chars += len(content)
            calls = delta.get("tool_calls")
            if calls:
                for call in calls:
                    fn = call.get("function") or {}
                    self.chars += len(str(fn.get("name") or "")) + len(
                        str(fn.get("arguments") or "")
                    )

    def usage(self, messages: list[dict[str, Any]]) -> Usage | None:
        """Estimated usage of what was delivered (None when nothing was)."""
        if not self.chars:
            return None
        completion = (self.chars + _CHARS_PER_TOKEN - 1) // _CHARS_PER_TOKEN
        return Usage(prompt_tokens=estimate_message_tokens(messages), completion_tokens=completion)


def unanswered_usage(attempts: int, cached: bool, messages: list[dict[str, Any]]) -> Usage | None:
    """What a request the client left before anything was delivered is charged: the
    prompt's estimate once it was sent to an upstream (``attempts``), nothing before.

    The provider reads and bills the prompt whether or not anyone waits for the answer;
    recording nothing let a caller send large prompts, hang up before the first token
    and have its token limits and budget refunded in full (tests/hardening/
    test_client_left.py). A cache hit (``cached``) reached no upstream.
    """
    if attempts <= 0 or cached:
        return None
    return Usage(prompt_tokens=estimate_message_tokens(messages), completion_tokens=0)
