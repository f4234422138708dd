"""Rewriting chat-completion chunk streams: redact or restore delta content."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any

from lockgate.guards.pii import (
    PiiScanner,
    Redactor,
    StreamRedactor,
    StreamRestorer,
    Vault,
    rewrite_chunks,
)

_R = "aB3dE5fG7hJ9kL1mN2pQ4rS6tU8vW0xY"
KEY = "sk-ant-api03-" + _R * 2 + "-" + _R[:28] + "AA"  # an Anthropic key: 93 + "AA"


def chunk(content: str | None, index: int = 0, finish: str | None = None) -> dict[str, Any]:
    delta: dict[str, Any] = {} if content is None else {"content": content}
    return {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": index, "delta": delta, "finish_reason": finish}],
    }


async def aiter(items: list[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    for item in items:
        yield item


def texts(chunks: list[dict[str, Any]], index: int = 0) -> str:
    return "".join(
        c["delta"].get("content") or ""
        for ch in chunks
        for c in ch.get("choices", [])
        if c["index"] == index
    )


async def test_redacts_key_split_over_chunks() -> None:
    """A key spread over three chunks never appears; the text otherwise survives."""
    redactor = Redactor(PiiScanner())
    pieces = ["Your key is ", KEY[:10], KEY[10:60], KEY[60:] + ". Keep it", " safe."]
    source = [chunk(p) for p in pieces] + [chunk(None, finish="stop")]
    before = copy.deepcopy(source)
    out = [c async for c in rewrite_chunks(aiter(source), lambda: StreamRedactor(redactor))]
    assert source == before
    assert len(out) == len(source)
    assert texts(out) == "Your key is [API_KEY_1]. Keep it safe."
    assert all(KEY[:10] not in (c["choices"][0]["delta"].get("content") or "") for c in out)
    assert out[-1]["choices"][0]["finish_reason"] == "stop"


async def test_restores_placeholders_per_choice() -> None:
    """Two choices are restored independently, even with split placeholders."""
    redactor, vault = Redactor(), Vault()
    redactor.redact("a@x.io b@y.io", vault)
    source = [
        chunk("mail [EMAIL", 0),
        chunk("and [EMA", 1),
        chunk("_1] now", 0),
        chunk("IL_2]", 1),
        chunk(None, 0, finish="stop"),
        chunk(None, 1, finish="stop"),
    ]
    out = [c async for c in rewrite_chunks(aiter(source), lambda: StreamRestorer(redactor, vault))]
    assert texts(out, 0) == "mail a@x.io now"
    assert texts(out, 1) == "and b@y.io"


async def test_usage_chunk_and_unfinished_stream() -> None:
    """Chunks without choices pass through; held text is released if no finish comes."""
    redactor = Redactor()
    usage = {"id": "c1", "object": "chat.completion.chunk", "choices": [], "usage": {"x": 1}}
    source = [chunk("write to a@x."), chunk("io"), usage]
    out = [c async for c in rewrite_chunks(aiter(source), lambda: StreamRedactor(redactor))]
    assert out[2] is usage
    assert texts(out) == "write to [EMAIL_1]"
    assert out[-1]["choices"][0]["finish_reason"] is None


def test_restorer_passes_plain_brackets() -> None:
    """Brackets that are not placeholders are emitted once closed or too long."""
    r, v = Redactor(), Vault()
    s = StreamRestorer(r, v)
    out = s.feed("list [1, 2") + s.feed("] and [") + s.feed("x" * 50) + s.flush()
    assert out == "list [1, 2] and [" + "x" * 50
