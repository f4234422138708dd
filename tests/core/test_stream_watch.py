"""WatchedStream: one layer, every observer's end callback, innermost first."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from lockgate.chat import Chunk
from lockgate.errors import UpstreamBadResponseError
from lockgate.stream_watch import WatchedStream, watched

USAGE = {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}


def content(text: str) -> Chunk:
    return {"choices": [{"index": 0, "delta": {"content": text}}]}


class Source:
    def __init__(self, chunks: list[Chunk], fail: Exception | None = None) -> None:
        self.chunks = chunks
        self.fail = fail
        self.closed = False

    async def run(self) -> AsyncIterator[Chunk]:
        try:
            for chunk in self.chunks:
                yield chunk
            if self.fail is not None:
                raise self.fail
        finally:
            self.closed = True


def recorder(log: list[Any], name: str) -> Any:
    async def end(watch: WatchedStream, error: BaseException | None) -> None:
        log.append((name, type(error).__name__ if error else None, watch.usage))

    return end


async def test_complete_stream_calls_every_end_in_order_with_usage():
    """Prefix first, then the source; usage noted; ends innermost first, source closed."""
    source = Source([content("b"), {"choices": [], "usage": USAGE}])
    log: list[Any] = []
    stream = WatchedStream(source.run(), [content("a")]).on_end(recorder(log, "inner"))
    assert watched(stream) is stream
    watched(stream).on_end(recorder(log, "outer"))
    seen = [chunk async for chunk in stream]
    assert [c["choices"][0]["delta"]["content"] for c in seen[:2]] == ["a", "b"]
    assert [name for name, _, _ in log] == ["inner", "outer"]
    assert log[0][1] is None and log[0][2].total_tokens == 8
    assert source.closed and stream.first_at is not None


async def test_failed_stream_passes_its_error_and_estimates_what_was_delivered():
    source = Source([content("x" * 40)], fail=UpstreamBadResponseError("cut"))
    log: list[Any] = []
    stream = watched(source.run()).on_end(recorder(log, "only"))
    with pytest.raises(UpstreamBadResponseError):
        async for _ in stream:
            pass
    assert log == [("only", "UpstreamBadResponseError", None)]
    estimate = stream.usage_or_estimate([{"role": "user", "content": "hi"}])
    assert estimate is not None and estimate.completion_tokens == 10


async def test_closing_early_runs_the_ends_once_with_generator_exit():
    """A client that left: aclose closes the source and calls each end once."""
    source = Source([content("a"), content("b")])
    log: list[Any] = []
    stream = watched(source.run()).on_end(recorder(log, "only"))
    await anext(stream)
    await stream.aclose()
    await stream.aclose()
    assert source.closed
    assert log == [("only", "GeneratorExit", None)]
