"""Same-wire pass-through and cross-wire translation, driven by the official SDKs.

/v1/messages to an Anthropic upstream goes through natively (the client's body,
the upstream's answer and events); other routes are translated, and a field the
target cannot honour is a 400 naming it unless the deployment says drop_params.
"""

from __future__ import annotations

import anthropic
import openai
import pydantic
import pytest
from tests.e2e.conftest import model_list
from tests.support import MASTER

from lockgate.token_count import uses_o200k

PDF = "JVBERi0xLjQKJcOkw7zDtsOfCjIgMCBvYmoKPDwvTGVuZ3RoIDMgMCBSPj4Kc3RyZWFtCg=="
BETA = "prompt-caching-2024-07-31,pdfs-2024-09-25"


@pytest.fixture()
def gw(fake, gateway_factory):
    """Both aliases without drop_params, and a pair of drop_params aliases."""
    models = model_list(fake)
    dropping = [
        {
            **m,
            "model_name": m["model_name"] + "-drop",
            "params": {**m["params"], "drop_params": True},
        }
        for m in model_list(fake)
    ]
    return gateway_factory(models + dropping, router_settings={"num_retries": 0})


@pytest.fixture()
def ant_client(gw):
    with anthropic.Anthropic(base_url=gw.url, api_key=MASTER, max_retries=0) as client:
        yield client


@pytest.fixture()
def oai_client(gw):
    with openai.OpenAI(base_url=gw.v1, api_key=MASTER, max_retries=0) as client:
        yield client


def rich_request() -> dict:
    """Fields the canonical form has no place for: they must reach Anthropic unchanged."""
    return {
        "max_tokens": 200,
        "system": [
            {"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}},
        ],
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "stop_sequences": ["STOPHERE"],
        "messages": [
            {"role": "user", "content": "weather?"},
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": "tu_1", "name": "get_weather", "input": {}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "tu_1",
                        "content": "down",
                        "is_error": True,
                    },
                    {
                        "type": "document",
                        "source": {"type": "base64", "media_type": "application/pdf", "data": PDF},
                        "cache_control": {"type": "ephemeral"},
                    },
                    {"type": "text", "text": "read it then STOPHERE and more"},
                ],
            },
        ],
        "tools": [
            {
                "name": "get_weather",
                "description": "Weather",
                "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
            }
        ],
    }


def test_anthropic_fields_pass_through_to_anthropic(ant_client, fake):
    """cache_control, thinking, documents, is_error and anthropic-beta reach the upstream;
    thinking blocks and the stop_sequence stop reason come back."""
    msg = ant_client.messages.create(
        model="claude-haiku", extra_headers={"anthropic-beta": BETA}, **rich_request()
    )
    sent = fake.requests[-1]
    assert sent.headers["anthropic-beta"] == BETA
    body = sent.body
    assert body["model"] == "claude-3-5-haiku-20241022"
    expected = {k: v for k, v in rich_request().items()}
    for key in ("system", "thinking", "stop_sequences", "messages", "tools"):
        assert body[key] == expected[key], key
    assert [b.type for b in msg.content] == ["thinking", "text"]
    assert msg.content[0].thinking.startswith("Thinking about:")
    assert msg.content[0].signature
    assert msg.content[1].text == "echo: down read it then"
    assert msg.stop_reason == "stop_sequence" and msg.stop_sequence == "STOPHERE"


def test_anthropic_stream_passes_events_through(ant_client, fake):
    """Thinking and signature deltas, the stop sequence, and event types newer than the
    gateway reach the client as the upstream sent them."""
    request = rich_request()
    request["messages"][-1]["content"][-1]["text"] = "FUTURE_EVENT then STOPHERE"
    with ant_client.messages.stream(model="claude-haiku", **request) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    assert "thinking" in kinds and "signature" in kinds
    assert [b.type for b in final.content] == ["thinking", "text"]
    assert final.content[0].signature and final.content[1].text == "echo: down FUTURE_EVENT then"
    assert final.stop_reason == "stop_sequence" and final.stop_sequence == "STOPHERE"
    assert fake.requests[-1].body["thinking"] == request["thinking"]


def test_unknown_stream_event_is_not_a_502_when_translated(oai_client):
    """An OpenAI client on a Claude alias: an unknown upstream event type is skipped."""
    stream = oai_client.chat.completions.create(
        model="claude-haiku",
        messages=[{"role": "user", "content": "FUTURE_EVENT here"}],
        stream=True,
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "echo: FUTURE_EVENT here"


def test_native_fields_to_openai_upstream_are_refused_by_name(ant_client, fake):
    """thinking cannot reach an OpenAI-wire upstream: 400 naming it, nothing sent."""
    with pytest.raises(anthropic.BadRequestError) as info:
        ant_client.messages.create(
            model="gpt-4o-mini",
            max_tokens=50,
            thinking={"type": "enabled", "budget_tokens": 1024},
            messages=[{"role": "user", "content": "hi"}],
        )
    assert "thinking" in info.value.message
    assert fake.requests == []


def test_document_and_is_error_translate_to_openai_upstream(ant_client, fake):
    """A PDF document becomes a file part; an is_error tool result says so in its text."""
    request = rich_request()
    del request["thinking"]
    msg = ant_client.messages.create(model="gpt-4o-mini", **request)
    assert msg.content[0].type == "text"
    sent = fake.requests[-1].body["messages"]
    tool = next(m for m in sent if m["role"] == "tool")
    assert tool["content"] == "Error: down"
    user = sent[-1]["content"]
    assert user[0] == {
        "type": "file",
        "file": {"filename": "document.pdf", "file_data": f"data:application/pdf;base64,{PDF}"},
    }


def test_drop_params_drops_what_the_openai_wire_cannot_hold(ant_client, fake):
    """With drop_params the thinking setting is dropped and the request answered."""
    msg = ant_client.messages.create(
        model="gpt-4o-mini-drop",
        max_tokens=50,
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=[{"role": "user", "content": "hi"}],
    )
    assert msg.content[0].text == "echo: hi"
    assert "thinking" not in fake.requests[-1].body


class Weather(pydantic.BaseModel):
    city: str
    degrees: int


def test_openai_parse_on_claude_alias(oai_client, fake):
    """response_format json_schema becomes a forced tool upstream and JSON content back."""
    completion = oai_client.chat.completions.parse(
        model="claude-haiku",
        messages=[{"role": "user", "content": "weather in Paris"}],
        response_format=Weather,
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "stop"
    assert choice.message.parsed == Weather(city="test", degrees=1)
    sent = fake.requests[-1].body
    assert sent["tool_choice"] == {"type": "tool", "name": "json_output"}
    assert sent["tools"][0]["input_schema"]["properties"]["degrees"] == {
        "title": "Degrees",
        "type": "integer",
    }


def test_openai_stream_parse_on_claude_alias(oai_client):
    """The SDK's streaming structured output assembles JSON content deltas."""
    with oai_client.chat.completions.stream(
        model="claude-haiku",
        messages=[{"role": "user", "content": "weather in Paris"}],
        response_format=Weather,
    ) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.parsed == Weather(city="test", degrees=1)
    assert final.choices[0].finish_reason == "stop"


def test_json_object_on_claude_alias(oai_client):
    """json_object mode answers with a JSON object's text."""
    reply = oai_client.chat.completions.create(
        model="claude-haiku",
        messages=[{"role": "user", "content": "json please"}],
        response_format={"type": "json_object"},
    )
    assert reply.choices[0].message.content == "{}"


@pytest.mark.parametrize(
    ("field", "value"),
    [("n", 2), ("logprobs", True), ("seed", 7), ("reasoning_effort", "high"), ("temperature", 1.5)],
)
def test_unsupported_params_on_claude_alias_are_400_by_name(oai_client, fake, field, value):
    """Parameters Anthropic cannot honour are refused, naming the field; nothing is sent."""
    with pytest.raises(openai.BadRequestError) as info:
        oai_client.chat.completions.create(
            model="claude-haiku", messages=[{"role": "user", "content": "hi"}], **{field: value}
        )
    assert info.value.body["param"] == field and info.value.body["code"] == "unsupported_parameter"
    assert fake.requests == []


def test_drop_params_on_claude_alias(oai_client, fake):
    """With drop_params, n and seed are dropped and temperature is lowered to 1.0."""
    reply = oai_client.chat.completions.create(
        model="claude-haiku-drop",
        messages=[{"role": "user", "content": "hi"}],
        n=1,
        seed=3,
        temperature=1.5,
    )
    assert reply.choices[0].message.content == "echo: hi"
    sent = fake.requests[-1].body
    assert sent["temperature"] == 1.0 and "seed" not in sent


def test_openai_upstream_keeps_unknown_fields(oai_client, fake):
    """OpenAI -> OpenAI-compatible: vendor fields the gateway does not know go through."""
    oai_client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "hi"}],
        seed=3,
        extra_body={"top_k": 5, "repetition_penalty": 1.1, "guided_choice": ["a", "b"]},
    )
    sent = fake.requests[-1].body
    assert sent["top_k"] == 5 and sent["repetition_penalty"] == 1.1
    assert sent["guided_choice"] == ["a", "b"] and sent["seed"] == 3


def test_parallel_tool_calls_false_reaches_anthropic(oai_client, fake):
    """parallel_tool_calls: false becomes disable_parallel_tool_use."""
    oai_client.chat.completions.create(
        model="claude-haiku",
        messages=[{"role": "user", "content": "hi"}],
        tools=[
            {
                "type": "function",
                "function": {"name": "f", "parameters": {"type": "object", "properties": {}}},
            }
        ],
        parallel_tool_calls=False,
    )
    assert fake.requests[-1].body["tool_choice"] == {
        "type": "auto",
        "disable_parallel_tool_use": True,
    }


def test_legacy_completions_on_openai_upstream(oai_client, fake):
    """/v1/completions goes to the upstream's /completions with the client's body."""
    reply = oai_client.completions.create(
        model="gpt-4o-mini", prompt="say this", max_tokens=10, extra_body={"best_of": 1}
    )
    assert reply.object == "text_completion" and reply.choices[0].text == "echo: say this"
    assert reply.usage is not None and reply.usage.completion_tokens == 3
    sent = fake.requests[-1]
    assert sent.path == "/v1/completions"
    assert sent.body["prompt"] == "say this" and sent.body["best_of"] == 1
    assert sent.body["model"] == "gpt-4o-mini"


def test_legacy_completions_stream(oai_client):
    """Streamed completions arrive as text_completion chunks, usage when asked."""
    stream = oai_client.completions.create(
        model="gpt-4o-mini",
        prompt="stream this",
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].text for c in chunks if c.choices)
    assert text == "echo: stream this"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 3


def test_legacy_completions_on_anthropic_go_through_messages(oai_client, fake):
    """An Anthropic-backed model has no completions endpoint: the prompt goes to
    /v1/messages as one user message and the answer comes back as a text_completion;
    fields a chat API has no place for are refused by name."""
    reply = oai_client.completions.create(model="claude-haiku", prompt="hi", max_tokens=20)
    assert reply.object == "text_completion" and reply.choices[0].text == "echo: hi"
    assert reply.usage is not None and reply.usage.completion_tokens > 0
    sent = fake.requests[-1]
    assert sent.path == "/v1/messages"
    assert sent.body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    assert sent.body["max_tokens"] == 20 and "lockgate" not in sent.body
    with pytest.raises(openai.BadRequestError) as info:
        oai_client.completions.create(model="claude-haiku", prompt="hi", suffix="!", echo=True)
    assert "suffix, echo" in info.value.message and info.value.param == "suffix"
    assert len(fake.requests) == 1


def test_count_tokens_asks_anthropic_for_claude(ant_client, fake):
    """An Anthropic-served model's count comes from Anthropic's own endpoint."""
    raw = ant_client.messages.with_raw_response.count_tokens(
        model="claude-haiku",
        system="Be brief.",
        messages=[{"role": "user", "content": "hello world"}],
        extra_headers={"anthropic-beta": BETA},
    )
    assert raw.parse().input_tokens == 6  # the fake: ceil(len("Be brief. hello world") / 4)
    assert raw.headers["x-lockgate-token-count"] == "provider"
    sent = fake.requests[-1]
    assert sent.path == "/v1/messages/count_tokens"
    assert sent.body["model"] == "claude-3-5-haiku-20241022"
    assert sent.headers["anthropic-beta"] == BETA


def test_count_tokens_uses_tiktoken_for_openai_models(ant_client, fake):
    """An OpenAI-family model is counted locally with its own vocabulary: gpt-4o-mini
    with o200k_base, where Chinese text takes about half the tokens cl100k needs."""
    raw = ant_client.messages.with_raw_response.count_tokens(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hello world"}]
    )
    # 3 (reply primer) + 3 (message framing) + 1 ("user") + 2 ("hello world")
    assert raw.parse().input_tokens == 9
    assert raw.headers["x-lockgate-token-count"] == "tiktoken"
    chinese = ant_client.messages.count_tokens(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "你好\uff0c世界。今天天气很好"}]
    )
    assert chinese.input_tokens == 3 + 3 + 1 + 8  # o200k: 8 tokens (cl100k: 15)
    assert fake.requests == []


def test_o200k_models_are_known_by_name():
    assert all(uses_o200k(m) for m in ("gpt-4o", "openai/gpt-4o-mini", "o3-mini", "gpt-4.1"))
    assert not any(uses_o200k(m) for m in ("gpt-4", "gpt-3.5-turbo", "llama3"))


def test_count_tokens_unknown_model_is_404(ant_client):
    """Counting for a model the gateway does not serve is a 404."""
    with pytest.raises(anthropic.NotFoundError):
        ant_client.messages.count_tokens(model="nope", messages=[{"role": "user", "content": "x"}])


EMAIL = "jane.doe@example.com"


@pytest.mark.parametrize("stream", [False, True])
def test_guards_win_over_native_pass_through(fake, gateway_factory, stream):
    """With PII redaction in and out, /v1/messages to Anthropic is translated, so neither
    the upstream nor the client sees what the guards removed (the raw events are dropped)."""
    gw = gateway_factory(
        model_list(fake),
        router_settings={"num_retries": 0},
        guardrails={"pii": {"input": "redact", "output": "redact", "restore_output": False}},
    )
    messages = [{"role": "user", "content": f"repeat {EMAIL} please"}]
    with anthropic.Anthropic(base_url=gw.url, api_key=MASTER, max_retries=0) as client:
        if stream:
            with client.messages.stream(
                model="claude-haiku", max_tokens=50, messages=messages
            ) as s:
                text = "".join(s.text_stream)
        else:
            msg = client.messages.create(model="claude-haiku", max_tokens=50, messages=messages)
            text = msg.content[0].text
    assert EMAIL not in str(fake.requests[-1].body)
    assert EMAIL not in text and "[EMAIL_1]" in text


def test_output_redaction_alone_drops_the_raw_events(fake, gateway_factory):
    """Output redaction only: the request goes natively, but the answer the client sees
    is the redacted translation, never the upstream's raw events."""
    gw = gateway_factory(
        model_list(fake),
        router_settings={"num_retries": 0},
        guardrails={"pii": {"output": "redact"}},
    )
    messages = [{"role": "user", "content": f"repeat {EMAIL} please"}]
    with anthropic.Anthropic(base_url=gw.url, api_key=MASTER, max_retries=0) as client:
        with client.messages.stream(
            model="claude-haiku", max_tokens=50, messages=messages, stop_sequences=["zzz"]
        ) as s:
            text = "".join(s.text_stream)
        msg = client.messages.create(model="claude-haiku", max_tokens=50, messages=messages)
    assert EMAIL not in text and "[EMAIL_1]" in text
    assert EMAIL not in msg.content[0].text and "[EMAIL_1]" in msg.content[0].text
