"""The LiteLLM SDK as a client: completion, streaming with usage and tools, through the
OpenAI route and through /v1/messages (its anthropic provider)."""

from __future__ import annotations

import pytest
from tests.e2e.conftest import model_list
from tests.live_server import serve_in_thread
from tests.support import MASTER

from lockgate.settings import settings_from_mapping

HI = [{"role": "user", "content": "hello there"}]
TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


@pytest.fixture(scope="module")
def gw(fake_server, tmp_path_factory):
    """One gateway for the module (the tests only read answers)."""
    data = {
        "model_list": model_list(fake_server),
        "router_settings": {"num_retries": 0},
        "general_settings": {
            "master_key": MASTER,
            "database_url": f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('ll')}/gw.db",
        },
    }
    with serve_in_thread(settings_from_mapping(data, env={})) as live:
        yield live


@pytest.fixture()
def litellm(monkeypatch):
    """The SDK, told to use its bundled price list (it would download one on import)."""
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    return litellm


def routes(gw):
    """(model, api_base) for the OpenAI route and the Anthropic route of the gateway."""
    return [
        ("openai/gpt-4o-mini", gw.v1),
        ("openai/claude-haiku", gw.v1),
        ("anthropic/claude-haiku", gw.url),
        ("anthropic/gpt-4o-mini", gw.url),
    ]


def test_completion_stream_and_tools(litellm, gw):
    """Every route answers, streams with usage, and returns tool calls."""
    for model, base in routes(gw):
        kw = {"model": model, "api_base": base, "api_key": MASTER, "num_retries": 0}
        reply = litellm.completion(messages=HI, **kw)
        assert reply.choices[0].message.content == "echo: hello there", model
        chunks = list(
            litellm.completion(
                messages=HI, stream=True, stream_options={"include_usage": True}, **kw
            )
        )
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == "echo: hello there", model
        assert any(getattr(c, "usage", None) and c.usage.completion_tokens for c in chunks), model
        called = litellm.completion(
            messages=[{"role": "user", "content": "CALL_TOOL Paris"}], tools=[TOOL], **kw
        )
        (call,) = called.choices[0].message.tool_calls
        assert call.function.name == "get_weather", model
