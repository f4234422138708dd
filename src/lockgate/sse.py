"""Server-sent events: a parser for upstream streams and encoders for our own."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

import orjson

__all__ = ["DONE", "encode_data", "encode_event", "iter_sse"]

DONE = b"data: [DONE]\n\n"


def encode_data(obj: Any) -> bytes:
    """One OpenAI-style ``data:`` event."""
    return b"data: " + orjson.dumps(obj) + b"\n\n"


def encode_event(event: str, obj: Any) -> bytes:
    """One named event, as Anthropic streams them."""
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(obj) + b"\n\n"


async def iter_sse(lines: AsyncIterable[bytes]) -> AsyncIterator[tuple[str, bytes]]:
    """Yield ``(event, data)`` pairs from a byte-line iterator (aiohttp's ``resp.content``).

    ``event`` is ``""`` when the server named none.  Comments and ``id``/``retry``
    fields are ignored; multi-line ``data`` is joined with newlines, as the spec says.
    """
    event = ""
    data: list[bytes] = []
    async for raw in lines:
        line = raw.rstrip(b"\r\n")
        if not line:
            if data:
                yield event, b"\n".join(data)
            event, data = "", []
            continue
        if line.startswith(b":"):
            continue
        field, _, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        if field == b"data":
            data.append(value)
        elif field == b"event":
            event = value.decode("utf-8", "replace")
    if data:
        yield event, b"\n".join(data)
