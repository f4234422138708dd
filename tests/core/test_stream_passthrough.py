"""OpenAI streams go to the client as the upstream's own bytes (no re-encoding), however
the upstream's network reads cut them, while usage is still accounted."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest
from asgi_lifespan import LifespanManager
from tests.hardening.conftest import usage_rows
from tests.support import bearer

from lockgate.app import create_app

# Spaces and key order no encoder of ours would produce: proof the bytes were not re-encoded.
CHUNKS = [
    b'{"id": "c1", "object": "chat.completion.chunk", "model": "m",'
    b' "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}],"usage":null}',
    b'{"id": "c1", "object": "chat.completion.chunk", "model": "m",'
    b' "choices": [{"index": 0, "delta": {"content": "Hel\\u006co"}}],"usage":null}',
    b'{"id": "c1", "object": "chat.completion.chunk", "model": "m",'
    b' "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],"usage":null}',
    b'{"id": "c1", "object": "chat.completion.chunk", "model": "m", "choices": [],'
    b' "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}}',
]
BODY = b"".join(b"data: " + c + b"\r\n\r\n" for c in CHUNKS) + b"data: [DONE]\r\n\r\n"


class RawUpstream:
    """An HTTP/1.1 server on 127.0.0.1 answering every POST with BODY, chunked, cut into
    the given pieces with a pause between them (each piece its own network read)."""

    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = pieces
        self.bodies: list[Any] = []
        self.server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        self.bodies.append(orjson.loads(await reader.readexactly(length)))
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            b"transfer-encoding: chunked\r\nconnection: close\r\n\r\n"
        )
        for piece in self.pieces:
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()
            await asyncio.sleep(0.01)
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        writer.close()

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/v1"

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()


def cut(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def events(text: bytes) -> list[bytes]:
    return [e.removeprefix(b"data: ") for e in text.split(b"\n\n") if e]


@pytest.fixture
def gateway(make_settings: Callable[..., Any], client_for: Any) -> Any:
    async def open_for(base: str) -> Any:
        models = [
            {
                "model_name": "gpt",
                "params": {"model": "openai/gpt-4o-mini", "api_base": base, "api_key": "sk-x"},
            }
        ]
        return await client_for(make_settings(models))

    return open_for


@pytest.mark.parametrize("pieces", [[BODY], cut(BODY, 7), cut(BODY, 150)], ids=["one", "7", "150"])
async def test_stream_bytes_pass_through_unchanged(gateway: Any, pieces: list[bytes]) -> None:
    """With include_usage, every event is the upstream's exact payload, then [DONE]."""
    async with RawUpstream(pieces) as base:
        client = await gateway(base)
        body = {
            "model": "gpt",
            "stream": True,
            "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": "hi"}],
        }
        r = await client.post("/v1/chat/completions", json=body, headers=bearer())
    assert r.status_code == 200
    assert events(r.content) == [*CHUNKS, b"[DONE]"]
    assert r.content.endswith(b"\n\ndata: [DONE]\n\n")


async def test_null_usage_is_cut_from_the_bytes_when_usage_was_not_asked(gateway: Any) -> None:
    """Without include_usage: no usage-only chunk, no "usage":null, the rest byte for byte."""
    async with RawUpstream(cut(BODY, 40)) as upstream_base:
        client = await gateway(upstream_base)
        body = {"model": "gpt", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
        r = await client.post("/v1/chat/completions", json=body, headers=bearer())
    assert r.status_code == 200
    expected = [c.replace(b',"usage":null', b"") for c in CHUNKS[:3]]
    assert events(r.content) == [*expected, b"[DONE]"]
    assert [orjson.loads(e)["choices"][0]["delta"].get("content") for e in expected] == [
        "",
        "Hello",
        None,
    ]


async def test_usage_of_a_passed_through_stream_is_recorded(
    make_settings: Callable[..., Any],
) -> None:
    """The usage chunk still reaches accounting (a usage row with the upstream's tokens)."""
    async with RawUpstream(cut(BODY, 100)) as base:
        models = [
            {
                "model_name": "gpt",
                "params": {"model": "openai/gpt-4o-mini", "api_base": base, "api_key": "sk-x"},
            }
        ]
        settings = make_settings(models)
        manager = LifespanManager(create_app(settings), startup_timeout=120, shutdown_timeout=120)
        async with manager:
            transport = httpx.ASGITransport(manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
                body = {
                    "model": "gpt",
                    "stream": True,
                    "messages": [{"role": "user", "content": "hi"}],
                }
                r = await client.post("/v1/chat/completions", json=body, headers=bearer())
        assert r.status_code == 200
    rows = await usage_rows(settings.general_settings.database_url)
    assert [(row["status"], row["prompt_tokens"], row["completion_tokens"]) for row in rows] == [
        (200, 9, 2)
    ]


async def test_a_chunk_nested_too_deep_is_still_refused(gateway: Any) -> None:
    """The bracket count skips the encode check only where nesting cannot be too deep."""
    deep = b'{"choices": [], "x": ' + b"[" * 300 + b"]" * 300 + b"}"
    async with RawUpstream([b"data: " + deep + b"\n\n" + BODY]) as base:
        client = await gateway(base)
        body = {"model": "gpt", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
        r = await client.post("/v1/chat/completions", json=body, headers=bearer())
    assert r.status_code == 502
    assert r.json()["error"]["code"] == "upstream_bad_response"  # 200 without the check
