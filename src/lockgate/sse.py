"""Server-sent events: a parser for upstream streams and encoders for our own."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

import orjson

__all__ = ["DONE", "SSEDecoder", "encode_data", "encode_event", "iter_sse"]

DONE = b"data: [DONE]\n\n"


def encode_data(obj: Any) -> bytes:
    """One OpenAI-style ``data:`` event."""
    return b"data: " + orjson.dumps(obj) + b"\n\n"


def encode_event(event: str, obj: Any) -> bytes:
    """One named event, as Anthropic streams them."""
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(obj) + b"\n\n"


class SSEDecoder:
    """An incremental SSE parser: feed it bytes as they arrive, get the complete events.

    The same rules as ``iter_sse`` (lines end at ``\\n``, a ``\\r`` before it is dropped),
    but one call handles a whole network read, so a stream whose events arrive together
    costs one wait, not one per line.  A line split across reads is kept until its end
    comes; its pieces are joined once (no quadratic re-copying of a long line).
    """

    __slots__ = ("_data", "_event", "_pieces")

    def __init__(self) -> None:
        self._pieces: list[bytes] = []
        self._event = ""
        self._data: list[bytes] = []

    def feed(self, chunk: bytes) -> list[tuple[str, bytes]]:
        """The events completed by ``chunk`` (possibly none)."""
        if b"\n" not in chunk:
            if chunk:
                self._pieces.append(chunk)
            return []
        if self._pieces:
            self._pieces.append(chunk)
            chunk = b"".join(self._pieces)
            self._pieces = []
        lines = chunk.split(b"\n")
        tail = lines.pop()
        if tail:
            self._pieces.append(tail)
        out: list[tuple[str, bytes]] = []
        for line in lines:
            self._line(line.rstrip(b"\r"), out)
        return out

    def close(self) -> list[tuple[str, bytes]]:
        """The events still held when the stream ends (a last line without its newline)."""
        out: list[tuple[str, bytes]] = []
        if self._pieces:
            self._line(b"".join(self._pieces).rstrip(b"\r"), out)
            self._pieces = []
        if self._data:
            out.append((self._event, b"\n".join(self._data)))
            self._event, self._data = "", []
        return out

    def _line(self, line: bytes, out: list[tuple[str, bytes]]) -> None:
        if not line:
            if self._data:
                out.append((self._event, b"\n".join(self._data)))
            self._event, self._data = "", []
            return
        if line[0] == 0x3A:  # b":" a comment
            return
        field, _, value = line.partition(b":")
        if value[:1] == b" ":
            value = value[1:]
        if field == b"data":
            self._data.append(value)
        elif field == b"event":
            self._event = value.decode("utf-8", "replace")


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
