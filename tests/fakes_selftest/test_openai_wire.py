"""The fake speaks the OpenAI wire format well enough for the official SDK."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest
from tests.fakes import FakeUpstream, Fault

TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            },
        },
    }
]


def client(fake: FakeUpstream) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=fake.openai_base_url, api_key="sk-test", max_retries=0)


async def test_chat_completion_echoes_last_user_message(fake: FakeUpstream) -> None:
    """A plain completion answers 'echo: <text>' with usage and finish_reason stop."""
    async with client(fake) as c:
        reply = await c.chat.completions.create(
            model="gpt-4o-mini",
            messages=[
                {"role": "system", "content": "be nice"},
                {"role": "user", "content": "hello there world"},
            ],
        )
    assert reply.object == "chat.completion"
    assert reply.choices[0].message.content == "echo: hello there world"
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None
    assert reply.usage.prompt_tokens == (len("be nice hello there world") + 3) // 4
    assert reply.usage.completion_tokens == 4
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + 4
    assert fake.requests[0].body["model"] == "gpt-4o-mini"
    assert fake.requests[0].headers["authorization"] == "Bearer sk-test"


async def test_max_tokens_truncates_words(fake: FakeUpstream) -> None:
    """max_tokens cuts the answer to that many words and reports finish_reason length."""
    async with client(fake) as c:
        reply = await c.chat.completions.create(
            model="m", max_tokens=2, messages=[{"role": "user", "content": "a b c d"}]
        )
    assert reply.choices[0].message.content == "echo: a"
    assert reply.choices[0].finish_reason == "length"


async def test_stream_with_usage(fake: FakeUpstream) -> None:
    """Streaming yields word chunks, a final usage chunk with no choices, then [DONE]."""
    async with client(fake) as c:
        stream = await c.chat.completions.create(
            model="m",
            stream=True,
            stream_options={"include_usage": True},
            messages=[{"role": "user", "content": "one two three"}],
        )
        chunks = [chunk async for chunk in stream]
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert text == "echo: one two three"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 4
    assert [ch.choices[0].finish_reason for ch in chunks if ch.choices][-1] == "stop"


async def test_raw_stream_ends_with_done(fake: FakeUpstream) -> None:
    """The raw SSE body is data: lines ending with data: [DONE] and no usage without opt-in."""
    async with httpx.AsyncClient() as http:
        resp = await http.post(
            fake.openai_base_url + "/chat/completions",
            json={"model": "m", "stream": True, "messages": [{"role": "user", "content": "x"}]},
        )
    assert resp.headers["content-type"].startswith("text/event-stream")
    events = [e for e in resp.text.split("\n\n") if e]
    assert all(e.startswith("data: ") for e in events)
    assert events[-1] == "data: [DONE]"
    assert all("usage" not in json.loads(e[6:]) for e in events[:-1])


async def test_tool_call(fake: FakeUpstream) -> None:
    """CALL_TOOL with tools yields a call to the first tool with schema-shaped arguments."""
    async with client(fake) as c:
        reply = await c.chat.completions.create(
            model="m", tools=TOOLS, messages=[{"role": "user", "content": "please CALL_TOOL"}]
        )
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None
    call = choice.message.tool_calls[0]
    assert call.type == "function"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "test", "days": 1}


async def test_streamed_tool_call(fake: FakeUpstream) -> None:
    """A streamed tool call arrives as tool_call deltas that join into the arguments."""
    async with client(fake) as c:
        stream = await c.chat.completions.create(
            model="m", tools=TOOLS, stream=True, messages=[{"role": "user", "content": "CALL_TOOL"}]
        )
        chunks = [chunk async for chunk in stream]
    deltas = [tc for ch in chunks for tc in (ch.choices[0].delta.tool_calls or [])]
    assert deltas[0].function is not None and deltas[0].function.name == "get_weather"
    args = "".join((d.function.arguments or "") for d in deltas if d.function)
    assert json.loads(args) == {"city": "test", "days": 1}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


async def test_embeddings_are_deterministic(fake: FakeUpstream) -> None:
    """Equal inputs give equal unit vectors, via the SDK's base64 and via plain floats."""
    async with client(fake) as c:
        a = await c.embeddings.create(model="e", input=["cat", "dog", "cat"])
        b = await c.embeddings.create(model="e", input="cat", encoding_format="float")
    vectors = [d.embedding for d in a.data]
    assert vectors[0] == pytest.approx(vectors[2])
    assert vectors[0] != pytest.approx(vectors[1])
    assert b.data[0].embedding == pytest.approx(vectors[0], abs=1e-6)
    assert sum(v * v for v in vectors[0]) == pytest.approx(1.0, abs=1e-5)
    assert a.usage.prompt_tokens == 3


async def test_models(fake: FakeUpstream) -> None:
    """GET /v1/models lists the configured models."""
    async with client(fake) as c:
        page = await c.models.list()
    assert [m.id for m in page.data] == fake.models


async def test_error_shape_and_retry_headers(fake: FakeUpstream) -> None:
    """A status fault returns the OpenAI error shape with retry-after headers."""
    fake.push_fault(Fault.error(429, retry_after=3, retry_after_ms=2500))
    async with client(fake) as c:
        with pytest.raises(openai.RateLimitError) as caught:
            await c.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    err = caught.value
    assert err.response.headers["retry-after"] == "3"
    assert err.response.headers["retry-after-ms"] == "2500"
    assert set(err.response.json()["error"]) == {"message", "type", "code", "param"}


async def test_bad_request_is_openai_shaped(fake: FakeUpstream) -> None:
    """A chat body without messages gets a 400 in the OpenAI error shape."""
    async with httpx.AsyncClient() as http:
        resp = await http.post(fake.openai_base_url + "/chat/completions", json={"model": "m"})
    assert resp.status_code == 400
    assert resp.json()["error"]["type"] == "invalid_request_error"


async def test_sdk_retries_a_503_burst(fake: FakeUpstream) -> None:
    """The package docstring's example: the SDK honours retry-after-ms through a burst."""
    fake.push_fault(Fault.error(503, retry_after_ms=10), times=2)
    async with openai.AsyncOpenAI(base_url=fake.openai_base_url, api_key="k") as c:
        reply = await c.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
    assert reply.choices[0].message.content == "echo: hi"
    assert [r.fault for r in fake.requests] == ["status", "status", None]
    assert fake.requests[1].headers["x-stainless-retry-count"] == "1"
