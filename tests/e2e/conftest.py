"""End-to-end fixtures: a fake provider and the gateway, both real servers on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from tests.fakes import ThreadedFake, start_in_thread
from tests.live_server import LiveGateway, serve_in_thread
from tests.support import MASTER

from lockgate.settings import settings_from_mapping

UPSTREAM_OPENAI_KEY = "sk-upstream-openai"
UPSTREAM_ANTHROPIC_KEY = "sk-ant-upstream"


@pytest.fixture(scope="module")
def fake_server() -> Iterator[ThreadedFake]:
    """One fake provider (OpenAI + Anthropic wire) per test module."""
    with start_in_thread() as fake:
        yield fake


@pytest.fixture()
def fake(fake_server: ThreadedFake) -> ThreadedFake:
    """The module's fake provider with requests, counters and faults forgotten."""
    fake_server.reset()
    return fake_server


def model_list(fake: ThreadedFake, **params: Any) -> list[dict[str, Any]]:
    """An OpenAI alias and an Anthropic alias, both served by the fake."""
    return [
        {
            "model_name": "gpt-4o-mini",
            "params": {
                "model": "openai/gpt-4o-mini",
                "api_base": fake.openai_base_url,
                "api_key": UPSTREAM_OPENAI_KEY,
                **params,
            },
        },
        {
            "model_name": "claude-haiku",
            "params": {
                "model": "anthropic/claude-3-5-haiku-20241022",
                "api_base": fake.url,
                "api_key": UPSTREAM_ANTHROPIC_KEY,
                **params,
            },
        },
    ]


GatewayFactory = Callable[..., LiveGateway]


@pytest.fixture()
def gateway_factory(tmp_path: Path) -> Iterator[GatewayFactory]:
    """Start a gateway (real uvicorn on 127.0.0.1) for a config mapping."""
    stack = ExitStack()
    counter = iter(range(1000))

    def start(models: list[dict[str, Any]], **sections: Any) -> LiveGateway:
        general = {
            "master_key": MASTER,
            "database_url": f"sqlite+aiosqlite:///{tmp_path}/gw{next(counter)}.db",
            **sections.pop("general_settings", {}),
        }
        data = {"model_list": models, "general_settings": general, **sections}
        return stack.enter_context(serve_in_thread(settings_from_mapping(data, env={})))

    with stack:
        yield start


@pytest.fixture()
def gateway(fake: ThreadedFake, gateway_factory: GatewayFactory) -> LiveGateway:
    """A gateway in front of the fake with both aliases, no retries."""
    return gateway_factory(model_list(fake), router_settings={"num_retries": 0})


@pytest.fixture()
def oai(gateway: LiveGateway) -> Iterator[Any]:
    """A sync openai client on the gateway, closed after the test."""
    import openai

    with openai.OpenAI(base_url=gateway.v1, api_key=MASTER, max_retries=0) as client:
        yield client


@pytest.fixture()
def ant(gateway: LiveGateway) -> Iterator[Any]:
    """A sync anthropic client on the gateway, closed after the test."""
    import anthropic

    with anthropic.Anthropic(base_url=gateway.url, api_key=MASTER, max_retries=0) as client:
        yield client
