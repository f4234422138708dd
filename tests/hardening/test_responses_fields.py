"""A bad ``max_output_tokens`` on /v1/responses is a 400 naming ``max_output_tokens``, the
field the client sent (the openai SDK over real HTTP).

Before: the field is sent upstream as the chat field ``max_completion_tokens``, and the
400 named that field, which the Responses API does not have."""

from __future__ import annotations

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
