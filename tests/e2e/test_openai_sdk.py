"""The official openai SDK, unmodified, against the gateway (real servers on loopback)."""

from __future__ import annotations

import json

import openai
import pytest
from tests.e2e.conftest import UPSTREAM_ANTHROPIC_KEY, UPSTREAM_OPENAI_KEY
from tests.support import MASTER

HI = [{"role": "user", "content": "hello gateway"}]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


@pytest.mark.parametrize("alias", ["gpt-4o-mini", "claude-haiku"])
def test_sync_chat(oai, fake, alias):
    """A sync completion through the gateway returns the upstream's answer and usage."""
    client = oai
    raw = client.chat.completions.with_raw_response.create(model=alias, messages=HI)
    reply = raw.parse()
    assert reply.choices[0].message.content == "echo: hello gateway"
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None and reply.usage.completion_tokens == 3
    assert raw.headers["x-lockgate-provider"] == (
        "openai" if alias == "gpt-4o-mini" else "anthropic"
    )
    assert float(raw.headers["x-lockgate-overhead-ms"]) >= 0
    sent = fake.requests[-1]
    if alias == "gpt-4o-mini":
        assert sent.path == "/v1/chat/completions"
        assert sent.headers["authorization"] == f"Bearer {UPSTREAM_OPENAI_KEY}"
        assert sent.body["model"] == "gpt-4o-mini"
    else:
        assert sent.path == "/v1/messages"
        assert sent.headers["x-api-key"] == UPSTREAM_ANTHROPIC_KEY
        assert sent.body["model"] == "claude-3-5-haiku-20241022"
        assert sent.body["max_tokens"] > 0
    assert MASTER not in json.dumps(sent.headers)


@pytest.mark.parametrize("alias", ["gpt-4o-mini", "claude-haiku"])
def test_sync_stream_with_usage(oai, alias):
    """Streaming deltas add up to the answer, with a final usage chunk."""
    client = oai
    stream = client.chat.completions.create(
        model=alias, messages=HI, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo: hello gateway"
    finishes = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert finishes == ["stop"]
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 3
    assert chunks[-1].usage.prompt_tokens > 0


@pytest.mark.parametrize("alias", ["gpt-4o-mini", "claude-haiku"])
async def test_async_chat_and_stream(gateway, alias):
    """The async client works for plain and streamed completions."""
    client = openai.AsyncOpenAI(base_url=gateway.v1, api_key=MASTER, max_retries=0)
    reply = await client.chat.completions.create(model=alias, messages=HI, max_tokens=2)
    assert reply.choices[0].message.content == "echo: hello"
    assert reply.choices[0].finish_reason == "length"
    stream = await client.chat.completions.create(model=alias, messages=HI, stream=True)
    parts = [c.choices[0].delta.content or "" async for c in stream if c.choices]
    assert "".join(parts) == "echo: hello gateway"
    await client.close()


@pytest.mark.parametrize("alias", ["gpt-4o-mini", "claude-haiku"])
def test_tool_calls(oai, fake, alias):
    """Tool calls come back in OpenAI's shape from either provider, streamed or not."""
    client = oai
    msgs = [{"role": "user", "content": "CALL_TOOL for Paris"}]
    reply = client.chat.completions.create(model=alias, messages=msgs, tools=[WEATHER_TOOL])
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "test"}
    if alias == "claude-haiku":
        tools = fake.requests[-1].body["tools"]
        assert tools[0]["name"] == "get_weather" and tools[0]["input_schema"]["required"] == [
            "city"
        ]
    stream = client.chat.completions.create(
        model=alias, messages=msgs, tools=[WEATHER_TOOL], stream=True
    )
    args, names = "", []
    for c in stream:
        for d in (c.choices[0].delta.tool_calls or []) if c.choices else []:
            if d.function and d.function.name:
                names.append(d.function.name)
            if d.function and d.function.arguments:
                args += d.function.arguments
    assert names == ["get_weather"] and json.loads(args) == {"city": "test"}


def test_tool_result_round_trip_to_anthropic(oai, fake):
    """A tool result in OpenAI form reaches Anthropic as a tool_result block."""
    client = oai
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        {"role": "user", "content": "thanks"},
    ]
    reply = client.chat.completions.create(
        model="claude-haiku", messages=messages, tools=[WEATHER_TOOL]
    )
    assert reply.choices[0].message.content.endswith("thanks")
    sent = fake.requests[-1].body
    assert sent["system"] == "You are terse."
    assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "user"]
    assert sent["messages"][1]["content"][0] == {
        "type": "tool_use",
        "id": "call_1",
        "name": "get_weather",
        "input": {"city": "Paris"},
    }
    assert sent["messages"][2]["content"][0]["type"] == "tool_result"
    assert sent["messages"][2]["content"][0]["tool_use_id"] == "call_1"
    assert sent["messages"][2]["content"][0]["content"] == "sunny"
    assert sent["messages"][2]["content"][1] == {"type": "text", "text": "thanks"}


def test_models_and_embeddings(oai):
    """models.list and embeddings.create work through the SDK."""
    client = oai
    assert sorted(m.id for m in client.models.list()) == ["claude-haiku", "gpt-4o-mini"]
    emb = client.embeddings.create(model="gpt-4o-mini", input=["a", "b"])
    assert len(emb.data) == 2 and len(emb.data[0].embedding) > 0


def test_sdk_errors(gateway, oai):
    """SDK exceptions match the gateway's statuses: 401, 404, 400."""
    with (
        openai.OpenAI(base_url=gateway.v1, api_key="sk-wrong-key", max_retries=0) as bad,
        pytest.raises(openai.AuthenticationError),
    ):
        bad.chat.completions.create(model="gpt-4o-mini", messages=HI)
    client = oai
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="no-such-model", messages=HI)
    assert info.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="gpt-4o-mini", messages=[])
