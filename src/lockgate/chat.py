"""The internal request, response and stream-chunk types.

OpenAI's chat-completions shape is the canonical form: a ``ChatRequest`` wraps the
OpenAI request body (a plain dict, never deep-copied on the hot path), a
``ChatResponse`` wraps a ``chat.completion`` object and a stream is an async
iterator of ``chat.completion.chunk`` dicts.  Other wire formats (Anthropic) are
translated to and from these shapes only at the edges.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from lockgate.chat_fields import check_chat_fields
from lockgate.errors import BadRequestError

__all__ = [
    "ChatRequest",
    "ChatResponse",
    "ChatStream",
    "Chunk",
    "EmbeddingRequest",
    "NativeChunk",
    "NativeRequest",
    "RawChunk",
    "Usage",
    "close_stream",
    "parse_chat_request",
    "usage_from_openai",
]

Chunk = dict[str, Any]
"""One OpenAI ``chat.completion.chunk`` object."""

ChatStream = AsyncIterator[Chunk]
"""A streamed answer; the final chunk may carry ``usage`` (with ``choices == []``)."""


@dataclass(slots=True)
class Usage:
    """Token counts of one answer.

    ``prompt_tokens`` is every input token (OpenAI's sense): the fresh ones, the ones
    read from the provider's prompt cache (``cached_tokens``) and the ones written to
    it (``cache_write_tokens``, of which ``cache_write_1h_tokens`` with the one-hour
    ttl).  Anthropic's ``input_tokens`` is only the fresh part.
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    cache_write_1h_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def fresh_tokens(self) -> int:
        """Input tokens neither read from nor written to the prompt cache."""
        return max(0, self.prompt_tokens - self.cached_tokens - self.cache_write_tokens)

    def to_openai(self) -> dict[str, Any]:
        """OpenAI's usage object; prompt-cache counts also in Anthropic's names (as
        LiteLLM and OpenAI-compatible clients of Anthropic models read them)."""
        out: dict[str, Any] = {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }
        if self.cached_tokens or self.cache_write_tokens:
            details: dict[str, int] = {"cached_tokens": self.cached_tokens}
            if self.cache_write_tokens:
                details["cache_write_tokens"] = self.cache_write_tokens
            out["prompt_tokens_details"] = details
            out["cache_read_input_tokens"] = self.cached_tokens
            out["cache_creation_input_tokens"] = self.cache_write_tokens
            if self.cache_write_1h_tokens:
                out["cache_creation"] = self.cache_creation()
        return out

    def cache_creation(self) -> dict[str, int]:
        """Anthropic's split of the cache writes by ttl."""
        return {
            "ephemeral_5m_input_tokens": self.cache_write_tokens - self.cache_write_1h_tokens,
            "ephemeral_1h_input_tokens": self.cache_write_1h_tokens,
        }


def _int(value: Any) -> int:
    if type(value) is int:  # the usual case, read first (bool is not int here)
        return value if value > 0 else 0
    if value is None or isinstance(value, bool):
        return 0
    try:
        return max(0, int(value or 0))
    except (TypeError, ValueError):
        return 0


def usage_from_openai(raw: Any) -> Usage:
    """Read an OpenAI ``usage`` object; tolerate absence and odd types.

    Cache writes come as ``prompt_tokens_details.cache_write_tokens`` (OpenAI) or
    ``cache_creation_input_tokens`` (the Anthropic name LiteLLM-shaped usage uses).
    """
    if not isinstance(raw, dict):
        return Usage()
    details = raw.get("prompt_tokens_details")
    if not isinstance(details, dict):
        details = {}
    cached = _int(details.get("cached_tokens")) or _int(raw.get("cache_read_input_tokens"))
    write = _int(details.get("cache_write_tokens")) or _int(raw.get("cache_creation_input_tokens"))
    split = raw.get("cache_creation")
    write_1h = _int(split.get("ephemeral_1h_input_tokens")) if isinstance(split, dict) else 0
    return Usage(
        prompt_tokens=_int(raw.get("prompt_tokens")),
        completion_tokens=_int(raw.get("completion_tokens")),
        cached_tokens=cached,
        cache_write_tokens=write,
        cache_write_1h_tokens=min(write_1h, write),
    )


@dataclass(slots=True)
class NativeRequest:
    """The client's request as its own wire sent it, for same-wire pass-through.

    A /v1/messages request bound for an Anthropic upstream is sent as the client
    wrote it (model and stream rewritten), so fields the canonical form cannot
    hold (``cache_control``, ``thinking``, documents, ``is_error``...) survive.
    ``messages`` is the canonical message list made from this body: a provider
    passes ``body`` through only while ``ChatRequest.body["messages"]`` is still
    that very list, so a stage that rewrote the messages (PII redaction) always
    wins over the original.  ``lossy`` names what the canonical form dropped,
    so a cross-wire provider can refuse instead of losing it silently.
    """

    wire: str
    body: dict[str, Any]
    messages: list[dict[str, Any]]
    headers: dict[str, str] = field(default_factory=dict)
    lossy: tuple[str, ...] = ()


class NativeChunk(dict[str, Any]):
    """A canonical chunk that also carries the raw upstream events it was made from.

    A stage that rewrites a chunk builds a plain ``dict`` and so drops the raw
    events with it: a same-wire route replays ``events`` only while every chunk
    is still the provider's own object.
    """

    __slots__ = ("events",)

    def __init__(self, chunk: dict[str, Any], events: list[tuple[str, bytes]]) -> None:
        super().__init__(chunk)
        self.events = events


class RawChunk(dict[str, Any]):
    """An OpenAI chat chunk as parsed, with the upstream's exact ``data:`` payload.

    An OpenAI-wire route sends ``raw`` as it came instead of encoding the chunk again,
    while the chunk is still the provider's own object: a stage that rewrites a chunk
    (redaction, a Groq usage move) builds a plain ``dict`` and so drops ``raw``.
    ``more`` says the upstream's next event came in the same network read as this one,
    so a route may hold this chunk's bytes and send both together without delaying
    either.  Nobody may change a ``RawChunk`` in place.
    """

    __slots__ = ("more", "raw")

    def __init__(self, chunk: dict[str, Any], raw: bytes, more: bool = False) -> None:
        super().__init__(chunk)
        self.raw = raw
        self.more = more


@dataclass(slots=True)
class ChatRequest:
    """A chat request in OpenAI shape.

    ``model`` is the alias the client asked for; ``body`` is the whole OpenAI body
    (``messages``, ``temperature``, ``tools``...).  Stages that rewrite the request
    (redaction, prompt rendering) replace ``body["messages"]`` with a new list
    rather than mutating the client's objects in place.
    """

    model: str
    body: dict[str, Any]
    stream: bool = False
    include_usage: bool = False
    #: the client's own-wire body (see ``NativeRequest``); None for canonical clients
    native: NativeRequest | None = None
    #: sent upstream as ``Idempotency-Key`` (the same on every attempt of one request)
    idempotency_key: str | None = None
    #: ``prompt_cache.auto_cache``: the ttl of the prompt-cache breakpoints an Anthropic
    #: provider places on this request (the client set none); other providers ignore it
    auto_cache_ttl: str | None = None

    @property
    def messages(self) -> list[dict[str, Any]]:
        msgs: list[dict[str, Any]] = self.body["messages"]
        return msgs

    @property
    def user(self) -> str | None:
        user = self.body.get("user")
        return user if isinstance(user, str) else None

    @property
    def max_tokens(self) -> int | None:
        value = self.body.get("max_completion_tokens", self.body.get("max_tokens"))
        return value if isinstance(value, int) else None


@dataclass(slots=True)
class ChatResponse:
    """A complete ``chat.completion`` object plus its parsed usage."""

    body: dict[str, Any]
    usage: Usage = field(default_factory=Usage)
    #: the upstream's own-wire answer when the request went through natively;
    #: a stage that rewrites the answer builds a new response without it
    native: dict[str, Any] | None = None

    @property
    def text(self) -> str:
        choices = self.body.get("choices") or []
        if not choices:
            return ""
        content = (choices[0].get("message") or {}).get("content")
        return content if isinstance(content, str) else ""

    @property
    def finish_reason(self) -> str | None:
        choices = self.body.get("choices") or []
        return choices[0].get("finish_reason") if choices else None


@dataclass(slots=True)
class EmbeddingRequest:
    model: str
    body: dict[str, Any]


async def close_stream(stream: object) -> None:
    """Close an async iterator of chunks if it can be closed (async generators can)."""
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        await aclose()


_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})


def parse_chat_request(body: Any) -> ChatRequest:
    """Validate the parts of an OpenAI chat body the gateway relies on.

    Unknown fields pass through untouched (providers validate their own
    parameters); the shape of ``model``, ``messages`` and ``stream`` is checked
    here so every later stage can trust it.
    """
    if not isinstance(body, dict):
        raise BadRequestError("Request body must be a JSON object.")
    if "prompt" in body:
        # A prompt reference: the prompt stage renders the messages (and may pick the
        # model), then validates the result with this function again.
        model = body.get("model")
        if model is not None and not isinstance(model, str):
            raise BadRequestError("'model' must be a string.", param="model")
        check_chat_fields(body)
        stream, include_usage = _stream_options(body)
        return ChatRequest(model=model or "", body=body, stream=stream, include_usage=include_usage)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequestError("'model' is required and must be a non-empty string.", param="model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequestError(
            "'messages' is required and must be a non-empty array.", param="messages"
        )
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            raise BadRequestError(f"messages[{i}] must be an object.", param=f"messages[{i}]")
        role = msg.get("role")
        if not isinstance(role, str) or role not in _ROLES:
            raise BadRequestError(
                f"messages[{i}].role must be one of {sorted(_ROLES)}, got {role!r}.",
                param=f"messages[{i}].role",
            )
        content = msg.get("content")
        if content is not None and not isinstance(content, str | list):
            raise BadRequestError(
                f"messages[{i}].content must be a string, an array of parts or null.",
                param=f"messages[{i}].content",
            )
    check_chat_fields(body)
    stream, include_usage = _stream_options(body)
    return ChatRequest(model=model, body=body, stream=stream, include_usage=include_usage)


def _stream_options(body: dict[str, Any]) -> tuple[bool, bool]:
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise BadRequestError("'stream' must be a boolean.", param="stream")
    include_usage = False
    opts = body.get("stream_options")
    if opts is not None:
        if not isinstance(opts, dict):
            raise BadRequestError("'stream_options' must be an object.", param="stream_options")
        include_usage = bool(opts.get("include_usage", False))
    return stream, include_usage
