"""Model names (wildcards, group aliases, /v1/models/{id}), per-deployment settings
and the errors SDK handlers depend on, with the openai SDK as the client."""

from __future__ import annotations

import base64
import os

import httpx
import openai
import pytest
from tests.e2e.conftest import UPSTREAM_ANTHROPIC_KEY, UPSTREAM_OPENAI_KEY, model_list
from tests.fakes import Fault
from tests.support import MASTER, bearer

HI = [{"role": "user", "content": "hi"}]
PATH = "/v1/chat/completions"


def client(gw, retries=0):
    return openai.OpenAI(base_url=gw.v1, api_key=MASTER, max_retries=retries)


def wildcard_models(fake):
    return [
        {
            "model_name": "openai/*",
            "params": {"model": "openai/*", "api_base": fake.openai_base_url, "api_key": "k"},
        },
        {
            "model_name": "anthropic/*",
            "params": {"model": "anthropic/*", "api_base": fake.url, "api_key": "k"},
        },
    ]


def test_wildcard_sends_the_clients_model_name(fake, gateway_factory):
    """openai/* and anthropic/* serve any model of theirs under its own name."""
    gw = gateway_factory(wildcard_models(fake), router_settings={"num_retries": 0})
    with client(gw) as oai:
        raw = oai.chat.completions.with_raw_response.create(model="openai/gpt-4o", messages=HI)
        assert raw.parse().choices[0].message.content == "echo: hi"
        assert fake.requests[-1].body["model"] == "gpt-4o"
        assert raw.headers["x-lockgate-model"] == "gpt-4o"
        oai.chat.completions.create(model="anthropic/claude-sonnet-4-5", messages=HI)
        assert fake.requests[-1].body["model"] == "claude-sonnet-4-5"
        assert oai.models.retrieve("openai/gpt-4.1").id == "openai/gpt-4.1"
        with pytest.raises(openai.NotFoundError):
            oai.chat.completions.create(model="mistral/large", messages=HI)
        with pytest.raises(openai.NotFoundError):
            oai.models.retrieve("mistral/large")
        assert [m.id for m in oai.models.list()] == []  # patterns are not models


def test_group_alias_and_model_retrieval(fake, gateway_factory):
    """model_group_alias names an alias twice; hidden ones are served but not listed."""
    gw = gateway_factory(
        model_list(fake),
        router_settings={
            "num_retries": 0,
            "model_group_alias": {
                "gpt-4": "gpt-4o-mini",
                "claude": {"model": "claude-haiku", "hidden": True},
            },
        },
    )
    with client(gw) as oai:
        oai.chat.completions.create(model="gpt-4", messages=HI)
        assert fake.requests[-1].body["model"] == "gpt-4o-mini"
        oai.chat.completions.create(model="claude", messages=HI)
        assert fake.requests[-1].body["model"] == "claude-3-5-haiku-20241022"
        assert [m.id for m in oai.models.list()] == ["gpt-4o-mini", "claude-haiku", "gpt-4"]
        model = oai.models.retrieve("claude-haiku")
        assert model.id == "claude-haiku" and model.object == "model"
        assert oai.models.retrieve("claude").id == "claude"


def test_group_alias_to_unknown_model_is_a_config_error(fake):
    """A group alias must name a configured model."""
    from lockgate.settings import ConfigError, settings_from_mapping

    with pytest.raises(ConfigError, match="model_group_alias"):
        settings_from_mapping(
            {"model_list": model_list(fake), "router_settings": {"model_group_alias": {"a": "b"}}},
            env={},
        )


def test_later_callers_get_429_while_the_provider_rate_limits(fake, gateway_factory):
    """After an upstream 429 with Retry-After, callers get 429 + Retry-After, not 503."""
    gw = gateway_factory(model_list(fake), router_settings={"num_retries": 0})
    fake.push_fault(Fault.error(429, retry_after=30, path=PATH))
    with client(gw) as oai:
        with pytest.raises(openai.RateLimitError):
            oai.chat.completions.create(model="gpt-4o-mini", messages=HI)
        with pytest.raises(openai.RateLimitError) as info:
            oai.chat.completions.create(model="gpt-4o-mini", messages=HI)
    later = info.value.response
    assert 25 <= int(later.headers["retry-after"]) <= 30
    assert info.value.body["code"] == "upstream_rate_limited"
    assert len(fake.requests_to(PATH)) == 1  # the cooling deployment was not called


@pytest.mark.parametrize(("status", "word"), [(401, "api_key"), (404, "model name")])
def test_bad_provider_key_or_model_carries_a_hint(fake, gateway_factory, status, word):
    """The upstream's 401/404 is a 502 whose message says what to check, and where."""
    gw = gateway_factory(model_list(fake), router_settings={"num_retries": 0})
    fake.push_fault(Fault.error(status, path=PATH))
    r = httpx.post(
        gw.v1 + "/chat/completions", json={"model": "gpt-4o-mini", "messages": HI}, headers=bearer()
    )
    assert r.status_code == 502
    assert "Hint:" in r.json()["error"]["message"] and word in r.json()["error"]["message"]
    assert r.headers["x-lockgate-deployment"] == "gpt-4o-mini#0"


def test_gateway_retries_tell_the_sdk_not_to_retry(fake, gateway_factory):
    """When lockgate already retried, x-should-retry: false stops the SDK stacking retries."""
    router = {"num_retries": 1, "retry_backoff_base": 0.01, "retry_backoff_cap": 0.02}
    gw = gateway_factory(model_list(fake), router_settings=router)
    fake.push_fault(Fault.error(500, path=PATH), times=None)
    with client(gw, retries=3) as oai, pytest.raises(openai.InternalServerError) as info:
        oai.chat.completions.create(model="gpt-4o-mini", messages=HI)
    assert info.value.response.headers["x-should-retry"] == "false"
    assert len(fake.requests_to(PATH)) == 2  # lockgate's two attempts, no SDK retries


def test_three_megabyte_image_passes(fake, gateway_factory):
    """A 3 MB image (about 4 MB of base64 JSON) is within the chat routes' limit."""
    gw = gateway_factory(model_list(fake), router_settings={"num_retries": 0})
    image = base64.b64encode(os.urandom(3 * 1024 * 1024)).decode()
    content = [
        {"type": "text", "text": "describe"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{image}"}},
    ]
    with client(gw) as oai:
        for alias in ("gpt-4o-mini", "claude-haiku"):
            reply = oai.chat.completions.create(
                model=alias, messages=[{"role": "user", "content": content}]
            )
            assert reply.choices[0].message.content == "echo: describe"
    sent = fake.requests[-1].body["messages"][0]["content"][1]
    assert sent["source"]["data"] == image


def test_deployment_rpm_moves_traffic_then_429s(fake, gateway_factory):
    """A deployment at its rpm is skipped; with none left the client gets a 429."""
    models = [
        {
            "model_name": "m",
            "params": {
                "model": "openai/a",
                "api_base": fake.openai_base_url,
                "api_key": "k",
                "rpm": 1,
            },
        },
        {
            "model_name": "m",
            "params": {
                "model": "openai/b",
                "api_base": fake.openai_base_url,
                "api_key": "k",
                "rpm": 1,
            },
        },
    ]
    gw = gateway_factory(models, router_settings={"num_retries": 0})
    with client(gw) as oai:
        oai.chat.completions.create(model="m", messages=HI)
        oai.chat.completions.create(model="m", messages=HI)
        with pytest.raises(openai.RateLimitError) as info:
            oai.chat.completions.create(model="m", messages=HI)
    assert sorted(r.body["model"] for r in fake.requests_to(PATH)) == ["a", "b"]
    assert 1 <= int(info.value.response.headers["retry-after"]) <= 60


def test_deployment_tpm_counts_usage(fake, gateway_factory):
    """A deployment whose tokens this minute reached its tpm takes no more requests."""
    models = model_list(fake, tpm=5)
    gw = gateway_factory(models, router_settings={"num_retries": 0})
    with client(gw) as oai:
        oai.chat.completions.create(model="gpt-4o-mini", messages=HI)  # 1 + 2 tokens
        oai.chat.completions.create(model="gpt-4o-mini", messages=HI)  # now 6 >= 5
        with pytest.raises(openai.RateLimitError):
            oai.chat.completions.create(model="gpt-4o-mini", messages=HI)


def test_deployment_defaults_fill_what_the_client_left_out(fake, gateway_factory):
    """A deployment's temperature and max_tokens apply unless the client set them."""
    gw = gateway_factory(
        model_list(fake, temperature=0.2, max_tokens=77), router_settings={"num_retries": 0}
    )
    with client(gw) as oai:
        for alias in ("gpt-4o-mini", "claude-haiku"):
            oai.chat.completions.create(model=alias, messages=HI)
            sent = fake.requests[-1].body
            assert sent["temperature"] == 0.2 and sent["max_tokens"] == 77
            oai.chat.completions.create(model=alias, messages=HI, temperature=0.9, max_tokens=5)
            sent = fake.requests[-1].body
            assert sent["temperature"] == 0.9 and sent["max_tokens"] == 5


def test_unpriced_model_refused_under_a_budget(fake, gateway_factory):
    """With refuse_unpriced, a budgeted request to a model of unknown price is a 403."""
    models = [
        {
            "model_name": "local",
            "params": {
                "model": "openai/my-finetune",
                "api_base": fake.openai_base_url,
                "api_key": "k",
            },
        },
        *model_list(fake),
    ]
    gw = gateway_factory(
        models,
        router_settings={"num_retries": 0},
        limits={"key_defaults": {"budget": {"day": 5.0}}, "refuse_unpriced": True},
    )
    with client(gw) as oai:
        with pytest.raises(openai.PermissionDeniedError) as info:
            oai.chat.completions.create(model="local", messages=HI)
        assert info.value.body["code"] == "model_unpriced"
        oai.chat.completions.create(model="gpt-4o-mini", messages=HI)  # priced: served


def test_unpriced_requests_are_counted(fake, gateway_factory):
    """Without the refusal, requests to unpriced deployments show in a metric."""
    models = [
        {
            "model_name": "local",
            "params": {
                "model": "openai/my-finetune",
                "api_base": fake.openai_base_url,
                "api_key": UPSTREAM_OPENAI_KEY,
            },
        },
        {
            "model_name": "claude",
            "params": {
                "model": "anthropic/claude-x",
                "api_base": fake.url,
                "api_key": UPSTREAM_ANTHROPIC_KEY,
            },
        },
    ]
    gw = gateway_factory(models, router_settings={"num_retries": 0})
    with client(gw) as oai:
        oai.chat.completions.create(model="local", messages=HI)
    text = httpx.get(gw.url + "/metrics", headers=bearer()).text
    assert 'lockgate_unpriced_requests_total{deployment="local#0"} 1.0' in text


def test_input_limit_follows_the_models_context_window(fake, gateway_factory):
    """A 110k-token prompt passes on a 200k-token model; an unknown model keeps 400k chars."""
    models = [
        *model_list(fake),
        {
            "model_name": "local",
            "params": {
                "model": "openai/my-finetune",
                "api_base": fake.openai_base_url,
                "api_key": "k",
            },
        },
        {
            "model_name": "local-big",
            "params": {
                "model": "openai/my-finetune",
                "api_base": fake.openai_base_url,
                "api_key": "k",
            },
            "model_info": {"max_input_tokens": 1_000_000},
        },
    ]
    gw = gateway_factory(models, router_settings={"num_retries": 0})
    prompt = "word " * 88_000  # 440k characters, about 110k tokens
    with client(gw) as oai:
        for alias in ("claude-haiku", "local-big"):
            reply = oai.chat.completions.create(
                model=alias, messages=[{"role": "user", "content": prompt}], max_tokens=1
            )
            assert reply.choices[0].finish_reason == "length"
        with pytest.raises(openai.BadRequestError) as info:
            oai.chat.completions.create(
                model="local", messages=[{"role": "user", "content": prompt}]
            )
    assert info.value.body["code"] == "input_too_long"
