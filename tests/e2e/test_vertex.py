"""Vertex AI: Gemini's wire at project/location URLs, with service-account OAuth through
google-auth against a fake token endpoint (the key's token_uri) on 127.0.0.1."""

from __future__ import annotations

import json

import anthropic
import openai
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from tests.support import MASTER

from lockgate.settings import ConfigError, settings_from_mapping

HI = [{"role": "user", "content": "hello there"}]
PATH = "/v1/projects/proj-1/locations/us-central1/publishers/google/models/gemini-2.0-flash"
EMAIL = "lockgate-test@proj-1.iam.gserviceaccount.com"


def service_account(fake, *, register: bool = True) -> str:
    """A service-account key file's text; its public key known to the fake (or not)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    if register:
        public = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        fake.google_keys[EMAIL] = public.decode()
    return json.dumps(
        {
            "type": "service_account",
            "project_id": "proj-1",
            "private_key_id": "kid-1",
            "private_key": private,
            "client_email": EMAIL,
            "client_id": "1",
            "token_uri": fake.url + "/oauth2/token",
        }
    )


def vertex_model(fake, credentials: str) -> dict:
    return {
        "model_name": "vertex",
        "params": {
            "model": "vertex_ai/gemini-2.0-flash",
            "api_base": fake.url,
            "vertex_project": "proj-1",
            "vertex_location": "us-central1",
            "vertex_credentials": credentials,
        },
    }


def test_vertex_chat_stream_and_messages_with_one_token(fake, gateway_factory):
    """Chat, stream and /v1/messages reach Vertex with a bearer token fetched once."""
    gw = gateway_factory([vertex_model(fake, service_account(fake))])
    with openai.OpenAI(base_url=gw.v1, api_key=MASTER, max_retries=0) as client:
        reply = client.chat.completions.create(model="vertex", messages=HI, max_tokens=20)
        assert reply.choices[0].message.content == "echo: hello there"
        stream = client.chat.completions.create(
            model="vertex", messages=HI, stream=True, stream_options={"include_usage": True}
        )
        chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == (
        "echo: hello there"
    )
    assert chunks[-1].usage.completion_tokens == 3
    with anthropic.Anthropic(base_url=gw.url, api_key=MASTER, max_retries=0) as ant:
        msg = ant.messages.create(model="vertex", max_tokens=20, messages=HI)
    assert msg.content[0].text == "echo: hello there"
    calls = [r for r in fake.requests if r.path.startswith("/v1/projects/")]
    assert [r.path for r in calls] == [
        PATH + ":generateContent",
        PATH + ":streamGenerateContent",
        PATH + ":generateContent",
    ]
    tokens = {r.headers["authorization"] for r in calls}
    assert len(tokens) == 1 and tokens.pop().removeprefix("Bearer ") in fake.google_tokens
    assert fake.counts["/oauth2/token"] == 1  # cached until near expiry
    assert all("x-goog-api-key" not in r.headers for r in calls)


def test_unknown_service_account_is_a_502_naming_the_credentials(fake, gateway_factory):
    """A key the token endpoint does not know: 502 upstream_auth_failed, no Vertex call."""
    gw = gateway_factory(
        [vertex_model(fake, service_account(fake, register=False))],
        router_settings={"num_retries": 0},
    )
    with (
        openai.OpenAI(base_url=gw.v1, api_key=MASTER, max_retries=0) as client,
        pytest.raises(openai.APIStatusError) as info,
    ):
        client.chat.completions.create(model="vertex", messages=HI)
    assert info.value.status_code == 502
    assert info.value.body["code"] == "upstream_auth_failed"
    assert "vertex_credentials" in info.value.body["message"]
    assert not [r for r in fake.requests if r.path.startswith("/v1/projects/")]


def test_vertex_needs_a_project():
    """vertex_project is required; VERTEXAI_PROJECT fills it as LiteLLM reads it."""
    entry = {"model_name": "v", "params": {"model": "vertex_ai/gemini-2.0-flash"}}
    with pytest.raises(ConfigError, match="vertex_project"):
        settings_from_mapping({"model_list": [entry]}, env={})
    s = settings_from_mapping({"model_list": [entry]}, env={"VERTEXAI_PROJECT": "p9"})
    assert s.model_list[0].params.vertex_project == "p9"
    assert s.model_list[0].params.vertex_location == "us-central1"
