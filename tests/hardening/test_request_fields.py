"""Finding 1: request fields are checked before any stage runs; reservations stay sane."""

from __future__ import annotations

from typing import Any

import pytest
from tests.audit.conftest import settings_for
from tests.hardening.conftest import MOCK, usage_rows
from tests.limits.clock import Clock
from tests.support import bearer

from lockgate.errors import BadRequestError
from lockgate.limits import Limiter, LimitRule
from lockgate.limits.limiter import LimitRejectedError
from lockgate.limits.memory import MemoryLimitStore

HI = [{"role": "user", "content": "hi"}]
PATH = "/v1/chat/completions"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_tokens", -1_000_000_000),
        ("max_tokens", 0),
        ("max_tokens", 10**12),
        ("max_tokens", "100"),
        ("max_tokens", True),
        ("max_completion_tokens", -5),
        ("temperature", 2.5),
        ("temperature", -0.1),
        ("temperature", "hot"),
        ("top_p", 1.5),
        ("n", 0),
        ("n", 1000),
        ("presence_penalty", 3),
        ("frequency_penalty", -2.5),
        ("stop", 5),
        ("stop", ["a", 7]),
        ("tools", {"type": "function"}),
        ("tools", [{"type": "function", "function": {}}]),
        ("tool_choice", "sometimes"),
        ("response_format", "json"),
        ("user", 42),
        ("seed", 1.5),
        ("logprobs", "yes"),
        ("top_logprobs", 99),
    ],
)
async def test_openai_route_rejects_bad_field_with_its_name(tmp_path, open_gateway, field, value):
    """Each bad field is a 400 invalid_request_error whose param names it (OpenAI shape)."""
    settings = settings_for(f"sqlite+aiosqlite:///{tmp_path}/f.db", MOCK)
    async with open_gateway(settings) as client:
        r = await client.post(
            PATH, json={"model": "mock", "messages": HI, field: value}, headers=bearer()
        )
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["type"] == "invalid_request_error"
    assert err["param"] is not None and err["param"].startswith(field)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_tokens", -1),
        ("max_tokens", 10**12),
        ("temperature", 1.5),
        ("top_p", -1),
        ("top_k", -3),
        ("stop_sequences", "END"),
        ("system", 42),
        ("system", [{"type": "image"}]),
        ("tools", [{"description": "no name"}]),
        ("metadata", "x"),
        ("stream", "yes"),
    ],
)
async def test_anthropic_route_rejects_bad_field_in_its_shape(tmp_path, open_gateway, field, value):
    """/v1/messages answers a bad field with an Anthropic-shaped 400 naming the field."""
    settings = settings_for(f"sqlite+aiosqlite:///{tmp_path}/a.db", MOCK)
    body: dict[str, Any] = {"model": "mock", "max_tokens": 10, "messages": HI, field: value}
    async with open_gateway(settings) as client:
        r = await client.post("/v1/messages", json=body, headers=bearer())
    assert r.status_code == 400, r.text
    data = r.json()
    assert data["type"] == "error" and data["error"]["type"] == "invalid_request_error"
    assert data["error"]["message"].startswith(field)


@pytest.mark.parametrize(
    ("field", "value", "param"),
    [
        ("encoding_format", "hex", "encoding_format"),
        ("encoding_format", [], "encoding_format"),
        ("dimensions", 0, "dimensions"),
        ("dimensions", 10**12, "dimensions"),
        ("dimensions", True, "dimensions"),
        ("dimensions", "8", "dimensions"),
        ("user", 5, "user"),
        ("input", [], "input"),
        ("input", ["fine", {"x": 1}], "input[1]"),
        ("input", ["", "fine"], "input[0]"),
        ("input", [[1, -2]], "input[0]"),
        ("input", ["a"] * 2049, "input"),
    ],
)
async def test_embeddings_route_rejects_bad_field_before_upstream(
    tmp_path, open_gateway, field, value, param
):
    """A bad embeddings field is a 400 naming it, checked before the micro-batcher could
    merge it with other callers' inputs into one upstream call."""
    settings = settings_for(f"sqlite+aiosqlite:///{tmp_path}/e.db", MOCK)
    body: dict[str, Any] = {"model": "mock", "input": "hello", field: value}
    async with open_gateway(settings) as client:
        r = await client.post("/v1/embeddings", json=body, headers=bearer())
        ok = await client.post(
            "/v1/embeddings",
            json={"model": "mock", "input": [[1, 2, 3], "text"], "dimensions": 8},
            headers=bearer(),
        )
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["type"] == "invalid_request_error" and err["param"] == param
    assert ok.status_code == 200, ok.text  # token ids, text and dimensions together pass


def test_valid_fields_pass():
    """Documented ranges and types are accepted, unknown fields are left to the provider."""
    from lockgate.chat_fields import check_chat_fields

    check_chat_fields(
        {
            "max_tokens": 100,
            "temperature": 0,
            "top_p": 1,
            "n": 2,
            "presence_penalty": -2,
            "frequency_penalty": 2.0,
            "stop": ["\n"],
            "tools": [{"type": "function", "function": {"name": "f"}}],
            "tool_choice": "auto",
            "seed": 7,
            "user": "u",
            "vendor_extension": {"anything": True},
        }
    )
    with pytest.raises(BadRequestError):
        check_chat_fields({"temperature": float("nan")})


async def test_max_tokens_above_the_models_limit_is_400(tmp_path, open_gateway):
    """A deployment's max_output_tokens bounds max_tokens before any stage runs."""
    models = [{"model_name": "mock", "params": {"model": "mock/mock-1", "max_output_tokens": 50}}]
    url = f"sqlite+aiosqlite:///{tmp_path}/m.db"
    async with open_gateway(settings_for(url, models)) as client:
        ok = await client.post(
            PATH, json={"model": "mock", "messages": HI, "max_tokens": 50}, headers=bearer()
        )
        bad = await client.post(
            PATH,
            json={"model": "mock", "messages": HI, "max_completion_tokens": 51},
            headers=bearer(),
        )
    assert ok.status_code == 200
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "max_completion_tokens"
    statuses = sorted(row["status"] for row in await usage_rows(url))
    assert statuses == [200, 400]


async def test_negative_max_tokens_cannot_poison_a_token_limit(tmp_path, open_gateway):
    """max_tokens -1e9 on a model-wide token limit is a 400, and the model stays usable."""
    limits = {"models": {"mock": {"tokens": "3000/minute"}}}
    url = f"sqlite+aiosqlite:///{tmp_path}/p.db"
    async with open_gateway(settings_for(url, MOCK, limits=limits)) as client:
        body = {"model": "mock", "messages": HI}
        poison = await client.post(
            PATH, json={**body, "max_tokens": -1_000_000_000}, headers=bearer()
        )
        later = [
            await client.post(PATH, json={**body, "max_tokens": 20}, headers=bearer())
            for _ in range(3)
        ]
    assert poison.status_code == 400 and poison.json()["error"]["param"] == "max_tokens"
    assert [r.status_code for r in later] == [200, 200, 200]


async def test_reservation_is_never_negative_nor_above_capacity():
    """The limiter treats a negative estimate as 0 and charges at most a rule's capacity."""
    clock = Clock()
    limiter = Limiter(MemoryLimitStore(), clock)
    rule = LimitRule.tokens("key:a", "1000/minute")
    credit = await limiter.reserve([rule], tokens=-1_000_000_000)
    assert credit.tokens == 0
    await limiter.finish(credit, tokens=-5, cost=-1.0)
    # the negative estimate gave no credit: 1000 fit, 1001 more do not
    big = await limiter.reserve([rule], tokens=1000)
    with pytest.raises(LimitRejectedError):
        await limiter.reserve([rule], tokens=1)
    # a provider reporting far more than the capacity costs one period at most
    await limiter.finish(big, tokens=10**9, cost=0.0)
    clock.advance(60.0)
    again = await limiter.reserve([rule], tokens=1000)
    assert again.decision.allowed
