"""A 400 names the field the client sent, not the chat field it became (the official SDKs
over real HTTP).

Before: a bad ``max_output_tokens`` on /v1/responses was a 400 naming
``max_completion_tokens``, and a bad ``stop_sequences`` on /v1/messages one naming
``stop``: fields those APIs do not have."""

from __future__ import annotations

import anthropic
import openai
import pytest
from tests.e2e.conftest import GatewayFactory, model_list
from tests.fakes import ThreadedFake
from tests.support import MASTER


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (-5, "integer from 1"),
        (0, "integer from 1"),
        (10**12, "integer from 1"),
        (500, "limit of 100"),
    ],
)
def test_max_output_tokens_errors_name_the_field_sent(
    fake: ThreadedFake, gateway_factory: GatewayFactory, value: int, words: str
) -> None:
    gw = gateway_factory(model_list(fake, max_output_tokens=100))
    with openai.OpenAI(base_url=gw.v1, api_key=MASTER, max_retries=0) as client:
        with pytest.raises(openai.BadRequestError) as caught:
            client.responses.create(model="gpt-4o-mini", input="hi", max_output_tokens=value)
        assert client.responses.create(model="gpt-4o-mini", input="hi", max_output_tokens=50)
    body = caught.value.body
    assert isinstance(body, dict), body
    assert body["param"] == "max_output_tokens", body
    assert "'max_output_tokens'" in body["message"] and words in body["message"], body
    assert "max_completion_tokens" not in body["message"], body


def test_anthropic_stop_sequences_errors_name_the_field_sent(
    fake: ThreadedFake, gateway_factory: GatewayFactory
) -> None:
    gw = gateway_factory(model_list(fake))
    with anthropic.Anthropic(base_url=gw.url, api_key=MASTER, max_retries=0) as client:
        with pytest.raises(anthropic.BadRequestError) as caught:
            client.messages.create(
                model="claude-haiku",
                max_tokens=16,
                messages=[{"role": "user", "content": "hi"}],
                stop_sequences=["x"] * 5000,
            )
        assert client.messages.create(
            model="claude-haiku",
            max_tokens=16,
            messages=[{"role": "user", "content": "hi"}],
            stop_sequences=["x"],
        )
    body = caught.value.body
    assert isinstance(body, dict) and body["type"] == "error", body
    message = body["error"]["message"]
    assert "'stop_sequences'" in message and "'stop'" not in message, message
