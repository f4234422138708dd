"""SSEDecoder: events from bytes however the network cut them, as iter_sse reads lines."""

from __future__ import annotations

import asyncio
import random

from lockgate.sse import SSEDecoder, iter_sse

STREAM = (
    b": a comment\n"
    b'data: {"a":1}\n\n'
    b"event: message_start\r\n"
    b'data: {"type":"message_start"}\r\n\r\n'
    b"data: line one\n"
    b"data: line two\n\n"
    b"id: 7\nretry: 100\n"
    b"data:no-space\n\n"
    b"data: [DONE]\n\n"
    b"data: no blank line at the end"
)


def reference(data: bytes) -> list[tuple[str, bytes]]:
    async def lines() -> object:
        for line in data.splitlines(keepends=True):
            yield line

    async def collect() -> list[tuple[str, bytes]]:
        return [item async for item in iter_sse(lines())]  # type: ignore[arg-type]

    return asyncio.run(collect())


def decode(pieces: list[bytes]) -> list[tuple[str, bytes]]:
    decoder = SSEDecoder()
    out: list[tuple[str, bytes]] = []
    for piece in pieces:
        out.extend(decoder.feed(piece))
    out.extend(decoder.close())
    return out


def test_whole_stream_in_one_read_matches_the_line_reader():
    """Comments, CRLF, named events, multi-line data, id/retry and a last unterminated line."""
    events = decode([STREAM])
    assert events == reference(STREAM)
    assert events[0] == ("", b'{"a":1}')
    assert events[1] == ("message_start", b'{"type":"message_start"}')
    assert events[2] == ("", b"line one\nline two")
    assert events[3] == ("", b"no-space")
    assert events[-1] == ("", b"no blank line at the end")


def test_any_cut_of_the_bytes_gives_the_same_events():
    """Reads split anywhere (mid-line, between \\r and \\n, one byte at a time)."""
    expected = reference(STREAM)
    rng = random.Random(18)
    for _ in range(200):
        cuts = sorted(rng.sample(range(1, len(STREAM)), rng.randint(1, 30)))
        pieces = [STREAM[a:b] for a, b in zip([0, *cuts], [*cuts, len(STREAM)], strict=True)]
        assert decode(pieces) == expected
    assert decode([STREAM[i : i + 1] for i in range(len(STREAM))]) == expected


def test_events_come_out_as_soon_as_their_blank_line_arrives():
    decoder = SSEDecoder()
    assert decoder.feed(b"data: x") == []
    assert decoder.feed(b"\n") == []
    assert decoder.feed(b"\ndata: y\n\ndata: z\n") == [("", b"x"), ("", b"y")]
    assert decoder.feed(b"\n") == [("", b"z")]
    assert decoder.close() == []
