"""What a target answered, and the client seam the runner talks to the gateway through."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

__all__ = [
    "RENDER_META",
    "Answer",
    "ChatClient",
    "EvalCallError",
    "RenderedPrompt",
    "answer_from_body",
]

#: fields of the render endpoint's answer that describe the prompt; the rest are the
#: version's request defaults (its params and tools), applied unless the suite sets them
RENDER_META = frozenset(
    {"prompt", "name", "version", "label", "model", "messages", "experiment", "object"}
)
PROMPT_PARAMS = (
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "stop",
    "seed",
    "tools",
    "tool_choice",
    "response_format",
)


class EvalCallError(Exception):
    """A call to the gateway failed (upstream down, bad status, unreadable body): an ERROR."""


@dataclass(frozen=True, slots=True)
class Answer:
    text: str
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    finish_reason: str | None = None
    cached: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Answer:
        return cls(**data)


@dataclass(frozen=True, slots=True)
class RenderedPrompt:
    """A registry prompt filled in: its messages, its model (if it names one), its params."""

    messages: list[dict[str, Any]]
    model: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    #: e.g. ``support@7``: the version that served
    ref: str | None = None


def answer_from_body(body: Any, *, cost_usd: float, latency_ms: float) -> Answer:
    """An ``Answer`` from an OpenAI ``chat.completion`` body."""
    try:
        choice = body["choices"][0]
        message = choice.get("message") or {}
        content = message.get("content")
        if isinstance(content, list):
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        calls = []
        for call in message.get("tool_calls") or []:
            fn = call.get("function") or {}
            raw = fn.get("arguments") or "{}"
            try:
                args = json.loads(raw) if isinstance(raw, str) else raw
            except json.JSONDecodeError:
                args = raw  # kept as text: the tool_call assertion reports it
            calls.append({"name": fn.get("name"), "arguments": args})
        usage = body.get("usage") or {}
        return Answer(
            text=content or "",
            tool_calls=calls,
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            cost_usd=cost_usd,
            latency_ms=latency_ms,
            finish_reason=choice.get("finish_reason"),
        )
    except (KeyError, IndexError, TypeError, AttributeError) as exc:
        raise EvalCallError(f"not a chat completion: {exc!r}") from None


class ChatClient(Protocol):
    """The gateway, as the runner sees it."""

    async def chat(
        self,
        model: str,
        messages: list[dict[str, Any]],
        params: dict[str, Any],
        *,
        fresh: bool = False,
    ) -> Answer:
        """One non-streaming chat completion; raises EvalCallError on any failure.

        ``fresh``: bypass the gateway's response cache (repeats measure variation).
        """
        ...

    async def render_prompt(
        self, name: str, label: str | None, version: int | None, variables: dict[str, Any]
    ) -> RenderedPrompt:
        """A registry prompt filled with ``variables``; raises EvalCallError on failure."""
        ...
