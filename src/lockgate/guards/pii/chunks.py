"""Apply a text rewriter (redact or restore) to a stream of chat-completion chunks.

Each choice index gets its own rewriter. Chunks keep their order and number: a chunk
whose text is held back goes out with shorter (maybe empty) ``delta.content``, and
the held text is released on the chunk carrying that choice's ``finish_reason``, or
in one extra chunk if the upstream stream ends without one. Input chunks are never
mutated. Tool-call arguments are passed through untouched.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lockgate.chat import ChatStream, Chunk
from lockgate.guards.pii.stream import TextStream

__all__ = ["rewrite_chunks"]


async def rewrite_chunks(stream: ChatStream, make: Callable[[], TextStream]) -> ChatStream:
    """Yield ``stream``'s chunks with ``delta.content`` rewritten by per-choice rewriters.

    ``make`` builds a fresh rewriter, e.g. ``lambda: StreamRedactor(redactor, vault)``.
    """
    rewriters: dict[int, TextStream] = {}
    last: Chunk | None = None
    async for chunk in stream:
        last = chunk
        choices = chunk.get("choices")
        if not choices:
            yield chunk
            continue
        new_choices: list[Any] = []
        for choice in choices:
            index = choice.get("index", 0)
            delta = choice.get("delta") or {}
            content = delta.get("content")
            finished = choice.get("finish_reason") is not None
            if not isinstance(content, str) and not (finished and index in rewriters):
                new_choices.append(choice)
                continue
            rewriter = rewriters.get(index)
            if rewriter is None:
                rewriter = rewriters[index] = make()
            text = rewriter.feed(content) if isinstance(content, str) else ""
            if finished:
                text += rewriter.flush()
                del rewriters[index]
            new_choices.append({**choice, "delta": {**delta, "content": text}})
        yield {**chunk, "choices": new_choices}
    # Upstream ended without finish_reason for some choices: release what they hold.
    tail = []
    for index, rewriter in rewriters.items():
        text = rewriter.flush()
        if text:
            tail.append({"index": index, "delta": {"content": text}, "finish_reason": None})
    if tail and last is not None:
        yield {
            "id": last.get("id"),
            "object": "chat.completion.chunk",
            "created": last.get("created"),
            "model": last.get("model"),
            "choices": tail,
        }
