"""The pass-through routes need the master key unless ``passthrough.virtual_keys`` is on.

Before: any virtual key could use /openai/... and /anthropic/..., where a relayed call is
held only to the key's request count and concurrency. A key scoped to one model, with a
token limit and a budget, reached every model of the provider account without them (and
without guards), and listed the files every tenant's batches put on that shared account.
"""

from __future__ import annotations

import io

import anthropic
import httpx
import openai
import pytest
from tests.e2e.conftest import (
    UPSTREAM_ANTHROPIC_KEY,
    UPSTREAM_OPENAI_KEY,
    GatewayFactory,
    model_list,
)
from tests.fakes import ThreadedFake
from tests.live_server import LiveGateway
from tests.support import MASTER, bearer


def _gateway(fake: ThreadedFake, factory: GatewayFactory, **extra: object) -> LiveGateway:
    return factory(
        model_list(fake),
        passthrough={
            "openai": {"api_base": fake.url, "api_key": UPSTREAM_OPENAI_KEY},
            "anthropic": {"api_base": fake.url, "api_key": UPSTREAM_ANTHROPIC_KEY},
            **extra,
        },
    )


def _scoped_key(gw: LiveGateway) -> str:
    r = httpx.post(
        gw.url + "/admin/keys",
        json={"name": "scoped", "models": ["claude-haiku"], "limits": {"tokens": "10/day"}},
        headers=bearer(),
        timeout=30,
    )
    r.raise_for_status()
    return str(r.json()["key"])


def test_a_virtual_key_cannot_reach_the_shared_provider_account(
    fake: ThreadedFake, gateway_factory: GatewayFactory
) -> None:
    gw = _gateway(fake, gateway_factory)
    key = _scoped_key(gw)
    with openai.OpenAI(base_url=gw.url + "/openai/v1", api_key=key, max_retries=0) as c:
        with pytest.raises(openai.PermissionDeniedError) as caught:
            c.chat.completions.create(  # a model its key is not scoped to
                model="gpt-4o", messages=[{"role": "user", "content": "hi " * 50}]
            )
        assert isinstance(caught.value.body, dict)
        assert caught.value.body["code"] == "passthrough_admin_only"
        with pytest.raises(openai.PermissionDeniedError):
            c.files.list()  # every tenant's files on the one provider account
    with anthropic.Anthropic(base_url=gw.url + "/anthropic", api_key=key, max_retries=0) as a:
        with pytest.raises(anthropic.PermissionDeniedError) as refused:
            a.messages.create(
                model="claude-3-5-haiku-20241022",
                max_tokens=50,
                messages=[{"role": "user", "content": "hi"}],
            )
        assert refused.value.status_code == 403
    assert fake.requests == []  # nothing relayed
    # the master key still relays
    with openai.OpenAI(base_url=gw.url + "/openai/v1", api_key=MASTER, max_retries=0) as c:
        made = c.files.create(file=("a.jsonl", io.BytesIO(b'{"a": 1}\n')), purpose="batch")
        assert made.id


def test_virtual_keys_is_an_explicit_choice(
    fake: ThreadedFake, gateway_factory: GatewayFactory
) -> None:
    gw = _gateway(fake, gateway_factory, virtual_keys=True)
    key = _scoped_key(gw)
    with openai.OpenAI(base_url=gw.url + "/openai/v1", api_key=key, max_retries=0) as c:
        assert [m.id for m in c.models.list()]
