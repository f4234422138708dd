"""LangChain's ChatOpenAI and ChatAnthropic as clients: invoke, stream, bind_tools and
with_structured_output against OpenAI- and Anthropic-backed aliases."""

from __future__ import annotations

import pydantic
import pytest
from langchain_anthropic import ChatAnthropic
from langchain_core.messages import AIMessageChunk
from langchain_openai import ChatOpenAI
from tests.e2e.conftest import model_list
from tests.live_server import serve_in_thread
from tests.support import MASTER

from lockgate.settings import settings_from_mapping

ALIASES = ["gpt-4o-mini", "claude-haiku"]


class City(pydantic.BaseModel):
    """A city."""

    city: str


def get_weather(city: str) -> str:
    """The weather in a city."""
    return "sunny"


@pytest.fixture(scope="module")
def gw(fake_server, tmp_path_factory):
    """One gateway for the module (the tests only read answers)."""
    data = {
        "model_list": model_list(fake_server),
        "router_settings": {"num_retries": 0},
        "general_settings": {
            "master_key": MASTER,
            "database_url": f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('lc')}/gw.db",
        },
    }
    with serve_in_thread(settings_from_mapping(data, env={})) as live:
        yield live


def chat_openai(gw, model: str) -> ChatOpenAI:
    # stream_usage: ChatOpenAI asks for usage in streams only when told (custom base_url)
    return ChatOpenAI(model=model, base_url=gw.v1, api_key=MASTER, max_retries=0, stream_usage=True)


def chat_anthropic(gw, model: str) -> ChatAnthropic:
    return ChatAnthropic(model=model, base_url=gw.url, api_key=MASTER, max_retries=0)


@pytest.fixture(params=["openai", "anthropic"])
def make(request, gw):
    return (chat_openai if request.param == "openai" else chat_anthropic), gw


@pytest.mark.parametrize("alias", ALIASES)
def test_invoke_and_stream(make, alias):
    """invoke answers; stream yields chunks that add up to the same text, with usage."""
    build, gw = make
    llm = build(gw, alias)
    reply = llm.invoke("hello there")
    assert reply.content == "echo: hello there" or reply.text == "echo: hello there"
    total: AIMessageChunk | None = None
    for chunk in build(gw, alias).stream("hello there"):
        total = chunk if total is None else total + chunk
    assert total is not None and total.text == "echo: hello there"
    assert total.usage_metadata is not None and total.usage_metadata["output_tokens"] > 0


@pytest.mark.parametrize("alias", ALIASES)
def test_bind_tools(make, alias):
    """A tool-calling prompt comes back as a LangChain tool call with parsed args."""
    build, gw = make
    reply = build(gw, alias).bind_tools([get_weather]).invoke("CALL_TOOL Paris")
    (call,) = reply.tool_calls
    assert call["name"] == "get_weather" and call["args"] == {"city": "test"}


@pytest.mark.parametrize("alias", ALIASES)
def test_with_structured_output(make, alias):
    """with_structured_output returns the pydantic object on both providers."""
    build, gw = make
    assert build(gw, alias).with_structured_output(City).invoke("a city") == City(city="test")
