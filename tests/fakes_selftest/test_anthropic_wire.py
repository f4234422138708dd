"""The fake speaks the Anthropic Messages wire format well enough for the official SDK."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import httpx
import pytest
from tests.fakes import FakeUpstream, Fault

TOOLS: list[Any] = [
    {
        "name": "lookup",
        "description": "d",
        "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}},
    }
]
HEADERS = {"x-api-key": "k", "anthropic-version": "2023-06-01"}


def client(fake: FakeUpstream) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=fake.base_url, api_key="k", max_retries=0)


async def test_message_echoes(fake: FakeUpstream) -> None:
    """A plain message has one text block, end_turn and input/output token usage."""
    async with client(fake) as c:
        msg = await c.messages.create(
            model="claude-x",
            max_tokens=100,
            system="sys",
            messages=[{"role": "user", "content": [{"type": "text", "text": "hi you"}]}],
        )
    assert msg.type == "message"
    assert [b.type for b in msg.content] == ["text"]
    assert msg.content[0].text == "echo: hi you"  # type: ignore[union-attr]
    assert msg.stop_reason == "end_turn"
    assert msg.usage.input_tokens == (len("sys hi you") + 3) // 4
    assert msg.usage.output_tokens == 3
    assert fake.requests[0].headers["anthropic-version"]


async def test_max_tokens_stop_reason(fake: FakeUpstream) -> None:
    """A short max_tokens truncates words and sets stop_reason max_tokens."""
    async with client(fake) as c:
        msg = await c.messages.create(
            model="m", max_tokens=1, messages=[{"role": "user", "content": "a b"}]
        )
    assert msg.content[0].text == "echo:"  # type: ignore[union-attr]
    assert msg.stop_reason == "max_tokens"


@pytest.mark.parametrize("missing", ["x-api-key", "anthropic-version"])
async def test_missing_headers_is_401(fake: FakeUpstream, missing: str) -> None:
    """Without x-api-key or anthropic-version the fake answers 401 in Anthropic's shape."""
    headers = {k: v for k, v in HEADERS.items() if k != missing}
    async with httpx.AsyncClient() as http:
        resp = await http.post(
            fake.base_url + "/v1/messages",
            headers=headers,
            json={"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]},
        )
    assert resp.status_code == 401
    body = resp.json()
    assert body["type"] == "error" and body["error"]["type"] == "authentication_error"


async def test_stream_event_sequence(fake: FakeUpstream) -> None:
    """A raw stream has exactly Anthropic's event order, each as event:/data: lines."""
    async with httpx.AsyncClient() as http:
        resp = await http.post(
            fake.base_url + "/v1/messages",
            headers=HEADERS,
            json={
                "model": "m",
                "max_tokens": 50,
                "stream": True,
                "messages": [{"role": "user", "content": "one two"}],
            },
        )
    events = [e.split("\n") for e in resp.text.split("\n\n") if e]
    names = [lines[0].removeprefix("event: ") for lines in events]
    payloads = [json.loads(lines[1].removeprefix("data: ")) for lines in events]
    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert all(p["type"] == n for n, p in zip(names, payloads, strict=True))
    assert "".join(p["delta"]["text"] for p in payloads[3:6]) == "echo: one two"
    assert payloads[7]["delta"]["stop_reason"] == "end_turn"
    assert payloads[7]["usage"]["output_tokens"] == 3


async def test_sdk_stream_text(fake: FakeUpstream) -> None:
    """The SDK's stream helper rebuilds the text and final usage."""
    async with (
        client(fake) as c,
        c.messages.stream(
            model="m", max_tokens=50, messages=[{"role": "user", "content": "streamed words"}]
        ) as stream,
    ):
        text = "".join([t async for t in stream.text_stream])
        final = await stream.get_final_message()
    assert text == "echo: streamed words"
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == 3


async def test_tool_use(fake: FakeUpstream) -> None:
    """CALL_TOOL with tools gives a tool_use block for the first tool."""
    async with client(fake) as c:
        msg = await c.messages.create(
            model="m",
            max_tokens=50,
            tools=TOOLS,
            messages=[{"role": "user", "content": "CALL_TOOL now"}],
        )
    assert msg.stop_reason == "tool_use"
    block = msg.content[0]
    assert block.type == "tool_use" and block.name == "lookup" and block.input == {"q": "test"}


async def test_streamed_tool_use(fake: FakeUpstream) -> None:
    """A streamed tool_use arrives as input_json_delta pieces the SDK reassembles."""
    async with (
        client(fake) as c,
        c.messages.stream(
            model="m",
            max_tokens=50,
            tools=TOOLS,
            messages=[{"role": "user", "content": "CALL_TOOL"}],
        ) as stream,
    ):
        kinds = [event.type async for event in stream]
        final = await stream.get_final_message()
    assert "input_json" in kinds
    assert final.stop_reason == "tool_use"
    assert final.content[0].type == "tool_use" and final.content[0].input == {"q": "test"}


async def test_overloaded_error_shape(fake: FakeUpstream) -> None:
    """A 529 fault on the messages route is rendered in Anthropic's error shape."""
    fake.push_fault(Fault.error(529, path="/v1/messages"))
    async with client(fake) as c:
        with pytest.raises(anthropic.APIStatusError) as caught:
            await c.messages.create(
                model="m", max_tokens=5, messages=[{"role": "user", "content": "x"}]
            )
    assert caught.value.status_code == 529
    assert caught.value.response.json()["error"]["type"] == "overloaded_error"
