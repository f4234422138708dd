"""Provider presets over the OpenAI-compatible provider, and Azure OpenAI, against fakes
that speak each server's wire with its quirks; the openai SDK is the client."""

from __future__ import annotations

import openai
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
