"""/v1/responses on both providers, with the openai SDK's responses client."""

from __future__ import annotations

import httpx
import openai
import pydantic
import pytest
from tests.e2e.conftest import model_list
from tests.support import MASTER, bearer

from lockgate.settings import ConfigError, settings_from_mapping

ALIASES = ["gpt-4o-mini", "claude-haiku"]
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def upstream_messages(fake):
    """The last upstream request's conversation, in chat form either way."""
    body = fake.requests[-1].body
    if "system" in body:
        return [{"role": "system", "content": body["system"]}, *body["messages"]]
    return body["messages"]


@pytest.mark.parametrize("alias", ALIASES)
def test_create_with_instructions(oai, fake, alias):
    """A string input with instructions answers in the response shape, with usage."""
    response = oai.responses.create(model=alias, input="hello there", instructions="Be brief.")
    assert response.object == "response" and response.status == "completed"
    assert response.id.startswith("resp_")
    assert response.output_text == "echo: hello there"
    assert response.output[0].type == "message" and response.output[0].role == "assistant"
    assert response.usage.output_tokens == 3 and response.usage.input_tokens > 0
    sent = upstream_messages(fake)
    assert sent[0]["role"] == "system" and "Be brief." in str(sent[0]["content"])


@pytest.mark.parametrize("alias", ALIASES)
def test_previous_response_id_continues_the_conversation(oai, fake, alias):
    """The stored conversation (without the old instructions) precedes the new input."""
    first = oai.responses.create(model=alias, input="first words", instructions="Old rules.")
    second = oai.responses.create(
        model=alias,
        input=[{"role": "user", "content": [{"type": "input_text", "text": "second words"}]}],
        previous_response_id=first.id,
    )
    assert second.output_text == "echo: second words"
    assert second.previous_response_id == first.id
    texts = [str(m["content"]) for m in upstream_messages(fake)]
    assert "Old rules." not in " ".join(texts)
    assert "first words" in texts[0] and "echo: first words" in texts[1]
    assert "second words" in texts[2]


@pytest.mark.parametrize("alias", ALIASES)
def test_function_call_round_trip(oai, fake, alias):
    """A function_call output item, then its function_call_output continues the chain."""
    call = oai.responses.create(model=alias, input="CALL_TOOL for Paris", tools=[WEATHER])
    item = call.output[0]
    assert item.type == "function_call" and item.name == "get_weather"
    assert item.arguments == '{"city":"test"}' and item.call_id
    done = oai.responses.create(
        model=alias,
        previous_response_id=call.id,
        input=[{"type": "function_call_output", "call_id": item.call_id, "output": "sunny"}],
        tools=[WEATHER],
    )
    assert done.status == "completed" and done.previous_response_id == call.id
    sent = fake.requests[-1].body["messages"]
    if alias == "gpt-4o-mini":
        assert sent[-1] == {"role": "tool", "tool_call_id": item.call_id, "content": "sunny"}
        assert sent[-2]["tool_calls"][0]["function"]["name"] == "get_weather"
    else:
        assert sent[-1]["content"][0]["type"] == "tool_result"
        assert sent[-1]["content"][0]["tool_use_id"] == item.call_id


@pytest.mark.parametrize("alias", ALIASES)
def test_stream_events_and_final_response(oai, alias):
    """responses.stream yields the typed events and assembles the final response."""
    with oai.responses.stream(model=alias, input="stream me please") as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert "response.output_text.delta" in kinds and kinds[-1] == "response.completed"
    assert final.output_text == "echo: stream me please"
    assert final.usage is not None and final.usage.output_tokens == 4
    stored = oai.responses.retrieve(final.id)
    assert stored.output_text == "echo: stream me please"


@pytest.mark.parametrize("alias", ALIASES)
def test_stream_function_call(oai, alias):
    """Function-call arguments stream as their own events."""
    with oai.responses.stream(model=alias, input="CALL_TOOL now", tools=[WEATHER]) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert "response.function_call_arguments.delta" in kinds
    assert final.output[0].type == "function_call"
    assert final.output[0].arguments == '{"city":"test"}'


def test_retrieve_delete_and_store_false(oai):
    """Stored responses can be read and deleted; store=false keeps nothing."""
    response = oai.responses.create(model="gpt-4o-mini", input="keep me")
    assert oai.responses.retrieve(response.id).output_text == "echo: keep me"
    oai.responses.delete(response.id)
    with pytest.raises(openai.NotFoundError):
        oai.responses.retrieve(response.id)
    unstored = oai.responses.create(model="gpt-4o-mini", input="forget me", store=False)
    with pytest.raises(openai.NotFoundError):
        oai.responses.retrieve(unstored.id)
    with pytest.raises(openai.NotFoundError):
        oai.responses.create(model="gpt-4o-mini", input="x", previous_response_id=unstored.id)


def test_another_key_cannot_read_or_continue(oai, gateway):
    """A stored response belongs to the key that made it."""
    response = oai.responses.create(model="gpt-4o-mini", input="mine")
    r = httpx.post(gateway.url + "/admin/keys", json={"name": "other"}, headers=bearer())
    other = r.json()["key"]
    with openai.OpenAI(base_url=gateway.v1, api_key=other, max_retries=0) as client:
        with pytest.raises(openai.NotFoundError):
            client.responses.retrieve(response.id)
        with pytest.raises(openai.NotFoundError):
            client.responses.create(
                model="gpt-4o-mini", input="x", previous_response_id=response.id
            )
    assert other != MASTER


class Weather(pydantic.BaseModel):
    city: str
    degrees: int


@pytest.mark.parametrize("alias", ALIASES)
def test_parse_structured_output(oai, fake, alias):
    """responses.parse with a pydantic text_format works on either provider."""
    parsed = oai.responses.parse(model=alias, input="weather in Paris", text_format=Weather)
    assert parsed.output_parsed == Weather(city="test", degrees=1)


def test_builtin_tools_are_refused_by_name(oai, fake):
    """Tools that run inside OpenAI's service are a 400 naming the tool."""
    with pytest.raises(openai.BadRequestError) as info:
        oai.responses.create(
            model="gpt-4o-mini", input="search", tools=[{"type": "web_search_preview"}]
        )
    assert info.value.body["param"] == "tools[0]" and "web_search_preview" in str(info.value)
    assert fake.requests == []


def test_response_too_large_to_store_says_store_false(fake, gateway_factory):
    """Over responses.max_entry_bytes nothing is kept and the answer (plain or the
    stream's completed event) says store: false; a small one is kept."""
    gw = gateway_factory(model_list(fake), responses={"max_entry_bytes": 2000})
    with openai.OpenAI(base_url=gw.v1, api_key=MASTER, max_retries=0) as client:
        small = client.responses.create(model="gpt-4o-mini", input="small")
        assert small.store is True and client.responses.retrieve(small.id).id == small.id
        big = client.responses.create(model="gpt-4o-mini", input="x" * 3000)
        assert big.store is False
        with client.responses.stream(model="gpt-4o-mini", input="y" * 3000) as stream:
            streamed = stream.get_final_response()
        assert streamed.store is False
        for response in (big, streamed):
            with pytest.raises(openai.NotFoundError):
                client.responses.retrieve(response.id)


def test_redis_backend_needs_a_redis_url():
    with pytest.raises(ConfigError, match=r"responses\.backend: redis needs"):
        settings_from_mapping({"responses": {"backend": "redis"}}, env={})
