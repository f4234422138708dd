"""The official anthropic SDK, unmodified, against the gateway's /v1/messages."""

from __future__ import annotations

import anthropic
import pytest
from tests.support import MASTER

HI = [{"role": "user", "content": "hello gateway"}]
TOOL = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


@pytest.mark.parametrize("alias", ["claude-haiku", "gpt-4o-mini"])
def test_sync_message(ant, fake, alias):
    """A sync messages.create answers in Anthropic's shape from either provider."""
    client = ant
    msg = client.messages.create(model=alias, max_tokens=100, system="Be brief.", messages=HI)
    assert msg.content[0].type == "text" and msg.content[0].text == "echo: hello gateway"
    assert msg.stop_reason == "end_turn"
    assert msg.usage.output_tokens == 3 and msg.usage.input_tokens > 0
    sent = fake.requests[-1].body
    if alias == "gpt-4o-mini":
        assert sent["messages"][0] == {"role": "system", "content": "Be brief."}
    else:
        assert sent["system"] == "Be brief."


@pytest.mark.parametrize("alias", ["claude-haiku", "gpt-4o-mini"])
def test_sync_stream_events(ant, alias):
    """messages.stream yields Anthropic's events and a final message with usage."""
    client = ant
    with client.messages.stream(model=alias, max_tokens=100, messages=HI) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert "content_block_delta" in kinds and "message_delta" in kinds
    assert final.content[0].text == "echo: hello gateway"
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == 3


@pytest.mark.parametrize("alias", ["claude-haiku", "gpt-4o-mini"])
async def test_async_message_and_stream(gateway, alias):
    """The async client works for plain and streamed messages, max_tokens honoured."""
    client = anthropic.AsyncAnthropic(base_url=gateway.url, api_key=MASTER, max_retries=0)
    msg = await client.messages.create(model=alias, max_tokens=2, messages=HI)
    assert msg.content[0].text == "echo: hello" and msg.stop_reason == "max_tokens"
    async with client.messages.stream(model=alias, max_tokens=100, messages=HI) as stream:
        text = "".join([t async for t in stream.text_stream])
    assert text == "echo: hello gateway"
    await client.close()


@pytest.mark.parametrize("alias", ["claude-haiku", "gpt-4o-mini"])
def test_tool_use(ant, alias):
    """tool_use blocks come back from either provider, streamed or not."""
    client = ant
    msgs = [{"role": "user", "content": "CALL_TOOL for Paris"}]
    msg = client.messages.create(model=alias, max_tokens=100, messages=msgs, tools=[TOOL])
    assert msg.stop_reason == "tool_use"
    block = next(b for b in msg.content if b.type == "tool_use")
    assert block.name == "get_weather" and block.input == {"city": "test"}
    with client.messages.stream(model=alias, max_tokens=100, messages=msgs, tools=[TOOL]) as stream:
        final = stream.get_final_message()
    block = next(b for b in final.content if b.type == "tool_use")
    assert block.name == "get_weather" and block.input == {"city": "test"}
    assert final.stop_reason == "tool_use"


def test_tool_result_to_openai_upstream(ant, fake):
    """An Anthropic tool_result becomes an OpenAI tool message upstream."""
    client = ant
    messages = [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": [
                {
                    "type": "tool_use",
                    "id": "tu_1",
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                }
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "tu_1", "content": "sunny"},
                {"type": "text", "text": "thanks"},
            ],
        },
    ]
    msg = client.messages.create(
        model="gpt-4o-mini", max_tokens=50, messages=messages, tools=[TOOL]
    )
    assert msg.content[0].text == "echo: thanks"
    sent = fake.requests[-1].body["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "user"]
    assert sent[1]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert sent[2] == {"role": "tool", "tool_call_id": "tu_1", "content": "sunny"}


def test_sdk_errors(gateway, ant):
    """Anthropic SDK exceptions for a bad key and an unknown model."""
    with (
        anthropic.Anthropic(base_url=gateway.url, api_key="sk-wrong-key", max_retries=0) as bad,
        pytest.raises(anthropic.AuthenticationError),
    ):
        bad.messages.create(model="claude-haiku", max_tokens=10, messages=HI)
    client = ant
    with pytest.raises(anthropic.NotFoundError):
        client.messages.create(model="nope", max_tokens=10, messages=HI)
