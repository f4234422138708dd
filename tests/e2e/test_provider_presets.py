"""Provider presets over the OpenAI-compatible provider, and Azure OpenAI, against fakes
that speak each server's wire with its quirks; the openai SDK is the client."""

from __future__ import annotations

import openai
import pydantic
import pytest
from tests.support import MASTER

from lockgate.settings import ConfigError, settings_from_mapping

HI = [{"role": "user", "content": "hello there"}]


def deployment(name, model, **params):
    return {"model_name": name, "params": {"model": model, **params}}


@pytest.fixture()
def gw(fake, gateway_factory):
    models = [
        deployment(
            "azure-4o",
            "azure/my-gpt4o-deployment",
            api_base=fake.url + "/azure",
            api_key="az-key",
            api_version="2024-10-21",
        ),
        deployment(
            "azure-entra",
            "azure/other",
            api_base=fake.url + "/azure",
            azure_ad_token="entra-token",
            api_version="2024-10-21",
        ),
        deployment(
            "groq",
            "groq/llama-3.1-8b-instant",
            api_base=fake.url + "/groq/openai/v1",
            api_key="gsk",
        ),
        deployment(
            "mistral",
            "mistral/mistral-small-latest",
            api_base=fake.url + "/mistral/v1",
            api_key="mk",
        ),
        deployment("ollama", "ollama/llama3.2", api_base=fake.url + "/nousage/v1"),
        deployment(
            "openrouter",
            "openrouter/anthropic/claude-3.5-sonnet",
            api_base=fake.openai_base_url,
            api_key="or",
        ),
        deployment(
            "vllm", "hosted_vllm/meta-llama/Llama-3.1-8B-Instruct", api_base=fake.openai_base_url
        ),
    ]
    return gateway_factory(models, router_settings={"num_retries": 0})


@pytest.fixture()
def client(gw):
    with openai.OpenAI(base_url=gw.v1, api_key=MASTER, max_retries=0) as c:
        yield c


def stream_text_and_usage(client, model):
    stream = client.chat.completions.create(
        model=model, messages=HI, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return text, chunks[-1].usage


def test_azure_deployment_url_api_version_and_api_key(client, fake):
    """Azure: /openai/deployments/{name}/chat/completions?api-version=..., api-key header."""
    reply = client.chat.completions.create(model="azure-4o", messages=HI)
    assert reply.choices[0].message.content == "echo: hello there"
    sent = fake.requests[-1]
    assert sent.path == "/azure/openai/deployments/my-gpt4o-deployment/chat/completions"
    assert sent.headers["api-key"] == "az-key" and "authorization" not in sent.headers
    text, usage = stream_text_and_usage(client, "azure-4o")
    assert text == "echo: hello there" and usage.completion_tokens == 3


def test_azure_entra_token_and_embeddings(client, fake):
    """An Entra ID token goes as a bearer token; embeddings use the deployment URL too."""
    client.chat.completions.create(model="azure-entra", messages=HI)
    assert fake.requests[-1].headers["authorization"] == "Bearer entra-token"
    out = client.embeddings.create(model="azure-4o", input="hi")
    assert len(out.data[0].embedding) == 8
    assert fake.requests[-1].path == "/azure/openai/deployments/my-gpt4o-deployment/embeddings"


def test_groq_usage_from_x_groq(client, fake):
    """Groq's stream usage (x_groq.usage) reaches the client as a usage chunk."""
    text, usage = stream_text_and_usage(client, "groq")
    assert text == "echo: hello there" and usage.completion_tokens == 3
    sent = fake.requests[-1]
    assert sent.body["model"] == "llama-3.1-8b-instant"
    assert sent.headers["authorization"] == "Bearer gsk"


def test_mistral_gets_no_stream_options(client, fake):
    """Mistral refuses stream_options: the preset leaves it out; usage still arrives."""
    text, usage = stream_text_and_usage(client, "mistral")
    assert text == "echo: hello there" and usage.completion_tokens == 3
    assert "stream_options" not in fake.requests[-1].body


def test_missing_stream_usage_is_estimated(client, fake):
    """A server that sends no usage in streams: the gateway ends with an estimate."""
    text, usage = stream_text_and_usage(client, "ollama")
    assert text == "echo: hello there"
    assert usage.completion_tokens == 5 and usage.prompt_tokens > 0  # 17 chars / 4
    assert "authorization" not in fake.requests[-1].headers  # local server: no key


def test_slashes_in_upstream_model_names(client, fake):
    """openrouter/anthropic/... and hosted_vllm/org/model keep the rest as the model."""
    client.chat.completions.create(model="openrouter", messages=HI)
    assert fake.requests[-1].body["model"] == "anthropic/claude-3.5-sonnet"
    client.chat.completions.create(model="vllm", messages=HI)
    assert fake.requests[-1].body["model"] == "meta-llama/Llama-3.1-8B-Instruct"


def test_preset_keys_from_the_environment_and_required_fields():
    """A preset's usual key variable fills api_key; vLLM and Azure need their URL/version."""
    data = {"model_list": [deployment("g", "groq/llama-3.1-8b-instant")]}
    settings = settings_from_mapping(data, env={"GROQ_API_KEY": "from-env"})
    params = settings.model_list[0].params
    assert params.api_key is not None and params.api_key.get_secret_value() == "from-env"
    assert params.wire == "openai" and params.provider == "groq"
    with pytest.raises(ConfigError, match="needs api_base"):
        settings_from_mapping({"model_list": [deployment("v", "vllm/x")]}, env={})
    with pytest.raises(ConfigError, match="api_version"):
        settings_from_mapping(
            {"model_list": [deployment("a", "azure/x", api_base="https://r.openai.azure.com")]},
            env={},
        )
    with pytest.raises(ConfigError, match="unknown provider 'nope'"):
        settings_from_mapping({"model_list": [deployment("n", "nope/x")]}, env={})


@pytest.fixture()
def gemini(fake, gateway_factory):
    """A gateway with a Gemini alias on the fake's Generative Language API."""
    models = [
        deployment(
            "gemini", "gemini/gemini-2.0-flash", api_base=fake.url + "/v1beta", api_key="AIza-test"
        )
    ]
    gw = gateway_factory(models, router_settings={"num_retries": 0})
    with openai.OpenAI(base_url=gw.v1, api_key=MASTER, max_retries=0) as c:
        yield c, gw


TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def test_gemini_generate_content(gemini, fake):
    """Chat on a Gemini alias: contents, systemInstruction, generationConfig, usage."""
    client, _ = gemini
    reply = client.chat.completions.create(
        model="gemini",
        messages=[{"role": "system", "content": "Be brief."}, *HI],
        max_tokens=50,
        temperature=0.3,
    )
    assert reply.choices[0].message.content == "echo: hello there"
    assert reply.usage.completion_tokens == 3
    sent = fake.requests[-1]
    assert sent.path == "/v1beta/models/gemini-2.0-flash:generateContent"
    assert sent.headers["x-goog-api-key"] == "AIza-test"
    assert sent.body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert sent.body["generationConfig"] == {"temperature": 0.3, "maxOutputTokens": 50}


def test_gemini_stream_and_function_calls(gemini, fake):
    """Streams (alt=sse) with usage; a functionCall round trip maps ids back to names."""
    client, _ = gemini
    text, usage = stream_text_and_usage(client, "gemini")
    assert text == "echo: hello there" and usage.completion_tokens == 3
    first = client.chat.completions.create(
        model="gemini", messages=[{"role": "user", "content": "CALL_TOOL Paris"}], tools=[TOOL]
    )
    call = first.choices[0].message.tool_calls[0]
    assert first.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather" and call.function.arguments == '{"city":"test"}'
    client.chat.completions.create(
        model="gemini",
        tools=[TOOL],
        messages=[
            {"role": "user", "content": "CALL_TOOL Paris"},
            first.choices[0].message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
        ],
    )
    contents = fake.requests[-1].body["contents"]
    assert contents[1]["parts"][0]["functionCall"]["name"] == "get_weather"
    assert contents[2]["parts"][0] == {
        "functionResponse": {"name": "get_weather", "response": {"result": "sunny"}}
    }


def test_gemini_structured_output_and_errors(gemini, fake):
    """response_format maps to responseJsonSchema; Gemini errors map to SDK errors."""
    from tests.fakes import Fault

    client, _ = gemini

    class City(pydantic.BaseModel):
        city: str

    parsed = client.chat.completions.parse(model="gemini", messages=HI, response_format=City)
    assert parsed.choices[0].message.parsed == City(city="test")
    assert fake.requests[-1].body["generationConfig"]["responseMimeType"] == "application/json"
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="gemini", messages=HI, logprobs=True)
    assert info.value.body["param"] == "logprobs"
    fake.push_fault(Fault.error(429, retry_after=7, path="/v1beta"))
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="gemini", messages=HI)


def test_anthropic_client_on_gemini_alias(gemini):
    """The anthropic SDK's /v1/messages reaches Gemini through the canonical form."""
    import anthropic

    _, gw = gemini
    with anthropic.Anthropic(base_url=gw.url, api_key=MASTER, max_retries=0) as ant:
        msg = ant.messages.create(model="gemini", max_tokens=50, messages=HI)
    assert msg.content[0].text == "echo: hello there" and msg.stop_reason == "end_turn"


@pytest.fixture()
def bedrock(fake, gateway_factory):
    """Bedrock aliases on the fake: SigV4 with the fake's keys, and a Bedrock API key."""
    from tests.fakes.bedrock_wire import ACCESS_KEY, SECRET_KEY

    signed = {
        "api_base": fake.url + "/bedrock",
        "aws_access_key_id": ACCESS_KEY,
        "aws_secret_access_key": SECRET_KEY,
        "aws_region_name": "eu-west-1",
    }
    models = [
        deployment("claude-bedrock", "bedrock/anthropic.claude-3-5-haiku-20241022-v1:0", **signed),
        deployment(
            "llama-bedrock",
            "bedrock/meta.llama3-1-8b-instruct-v1:0",
            api_base=fake.url + "/bedrock",
            api_key="bedrock-api-key",
            aws_region_name="us-east-1",
        ),
        deployment(
            "bad-bedrock",
            "bedrock/meta.llama3-1-8b-instruct-v1:0",
            **{**signed, "aws_secret_access_key": "wrong"},
        ),
    ]
    gw = gateway_factory(models, router_settings={"num_retries": 0})
    with openai.OpenAI(base_url=gw.v1, api_key=MASTER, max_retries=0) as c:
        yield c


def test_bedrock_converse_signed(bedrock, fake):
    """Converse with a SigV4 signature the fake verifies; usage and text come back."""
    reply = bedrock.chat.completions.create(
        model="claude-bedrock",
        messages=[{"role": "system", "content": "Be brief."}, *HI],
        max_tokens=40,
    )
    assert reply.choices[0].message.content == "echo: hello there"
    assert reply.usage.completion_tokens == 3
    sent = fake.requests[-1]
    assert sent.path == "/bedrock/model/anthropic.claude-3-5-haiku-20241022-v1:0/converse"
    assert sent.headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDFAKE/")
    assert "/eu-west-1/bedrock/aws4_request" in sent.headers["authorization"]
    assert sent.body["system"] == [{"text": "Be brief."}]
    assert sent.body["inferenceConfig"] == {"maxTokens": 40}


def test_bedrock_converse_stream_and_tools(bedrock, fake):
    """ConverseStream's event-stream frames become chunks; toolUse round-trips."""
    text, usage = stream_text_and_usage(bedrock, "llama-bedrock")
    assert text == "echo: hello there" and usage.completion_tokens == 3
    assert fake.requests[-1].headers["authorization"] == "Bearer bedrock-api-key"
    stream = bedrock.chat.completions.create(
        model="claude-bedrock",
        messages=[{"role": "user", "content": "CALL_TOOL Paris"}],
        tools=[TOOL],
        stream=True,
    )
    calls = [tc for c in stream if c.choices for tc in c.choices[0].delta.tool_calls or ()]
    assert calls[0].function.name == "get_weather"
    assert "".join(c.function.arguments or "" for c in calls) == '{"city":"test"}'
    sent = fake.requests[-1].body["toolConfig"]["tools"][0]["toolSpec"]
    assert sent["name"] == "get_weather" and sent["inputSchema"]["json"]["type"] == "object"


def test_bedrock_bad_signature_is_a_hinted_502(bedrock):
    """A wrong secret key fails the signature: an auth failure with a hint, not a bare 502."""
    with pytest.raises(openai.APIStatusError) as info:
        bedrock.chat.completions.create(model="bad-bedrock", messages=HI)
    assert info.value.status_code == 502 and "Hint:" in str(info.value)


def test_bedrock_structured_output_as_forced_tool(bedrock, fake):
    """response_format on Bedrock: a forced json_output tool, JSON content back, streamed too."""

    class City(pydantic.BaseModel):
        city: str

    parsed = bedrock.chat.completions.parse(
        model="claude-bedrock", messages=HI, response_format=City
    )
    assert parsed.choices[0].message.parsed == City(city="test")
    assert parsed.choices[0].finish_reason == "stop"
    assert fake.requests[-1].body["toolConfig"]["toolChoice"] == {"tool": {"name": "json_output"}}
    with bedrock.chat.completions.stream(
        model="claude-bedrock", messages=HI, response_format=City
    ) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.parsed == City(city="test")
