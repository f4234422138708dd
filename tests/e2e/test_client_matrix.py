"""The compatibility matrix: LangChain's ChatOpenAI and ChatAnthropic against an alias
on every provider fake (OpenAI, Anthropic, Azure, Groq, Mistral, no-usage OpenAI
servers, Gemini, Vertex AI, Bedrock): invoke, stream with usage, tools (plain and
streamed), structured output and an image input."""

from __future__ import annotations

import asyncio
import base64
import inspect
import json
import warnings

import pydantic
import pytest
from langchain_anthropic import ChatAnthropic
from langchain_core.messages import AIMessageChunk, HumanMessage
from langchain_openai import ChatOpenAI, OpenAI
from tests.e2e.conftest import model_list
from tests.e2e.test_vertex import service_account, vertex_model
from tests.fakes.bedrock_wire import ACCESS_KEY, SECRET_KEY
from tests.live_server import serve_in_thread
from tests.support import MASTER

from lockgate.settings import settings_from_mapping

#: alias -> provider fake it is served by
PROVIDERS = {
    "gpt-4o-mini": "openai",
    "claude-haiku": "anthropic",
    "azure-4o": "azure",
    "groq": "groq",
    "mistral": "mistral",
    "ollama": "no-usage openai",
    "gemini": "gemini",
    "vertex": "vertex",
    "bedrock": "bedrock",
}
CLIENTS = ["ChatOpenAI", "ChatAnthropic"]
# A 1x1 PNG.
PIXEL = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4"
        "890000000d49444154789c6360f8cf000000020001e221bc330000000049454e44ae426082"
    )
).decode()


def dep(name: str, model: str, **params: object) -> dict[str, object]:
    return {"model_name": name, "params": {"model": model, **params}}


@pytest.fixture(scope="module")
def gw(fake_server, tmp_path_factory):
    """One gateway with an alias per provider fake."""
    f = fake_server
    models = [
        *model_list(f),
        dep(
            "azure-4o",
            "azure/dep",
            api_base=f.url + "/azure",
            api_key="k",
            api_version="2024-10-21",
        ),
        dep("groq", "groq/llama-3.1-8b-instant", api_base=f.url + "/groq/openai/v1", api_key="g"),
        dep("mistral", "mistral/mistral-small-latest", api_base=f.url + "/mistral/v1", api_key="m"),
        dep("ollama", "ollama/llama3.2", api_base=f.url + "/nousage/v1"),
        dep("gemini", "gemini/gemini-2.0-flash", api_base=f.url + "/v1beta", api_key="AIza-t"),
        vertex_model(f, service_account(f)),
        dep(
            "bedrock",
            "bedrock/anthropic.claude-3-5-haiku-20241022-v1:0",
            api_base=f.url + "/bedrock",
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            aws_region_name="eu-west-1",
        ),
    ]
    data = {
        "model_list": models,
        "router_settings": {"num_retries": 0},
        "general_settings": {
            "master_key": MASTER,
            "database_url": f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('mx')}/gw.db",
        },
    }
    with serve_in_thread(settings_from_mapping(data, env={})) as live:
        yield live


def llm(client: str, gw, alias: str) -> ChatOpenAI | ChatAnthropic:
    if client == "ChatOpenAI":
        return ChatOpenAI(
            model=alias, base_url=gw.v1, api_key=MASTER, max_retries=0, stream_usage=True
        )
    return ChatAnthropic(model=alias, base_url=gw.url, api_key=MASTER, max_retries=0)


class City(pydantic.BaseModel):
    """A city."""

    city: str


def get_weather(city: str) -> str:
    """The weather in a city."""
    return "sunny"


def summed(chunks) -> AIMessageChunk:
    total: AIMessageChunk | None = None
    for chunk in chunks:
        total = chunk if total is None else total + chunk
    assert total is not None
    return total


matrix = pytest.mark.parametrize(("client", "alias"), [(c, a) for c in CLIENTS for a in PROVIDERS])


@matrix
def test_invoke_and_stream_with_usage(gw, client, alias):
    """invoke answers; the stream adds up to the same text and carries usage."""
    model = llm(client, gw, alias)
    assert model.invoke("hello there").text == "echo: hello there"
    total = summed(model.stream("hello there"))
    assert total.text == "echo: hello there"
    assert total.usage_metadata is not None and total.usage_metadata["output_tokens"] > 0


@matrix
def test_tools_plain_and_streamed(gw, client, alias):
    """bind_tools: a tool call with parsed arguments, invoked and streamed."""
    model = llm(client, gw, alias).bind_tools([get_weather])
    (call,) = model.invoke("CALL_TOOL Paris").tool_calls
    assert call["name"] == "get_weather" and call["args"] == {"city": "test"}
    (streamed,) = summed(model.stream("CALL_TOOL Paris")).tool_calls
    assert streamed["name"] == "get_weather" and streamed["args"] == {"city": "test"}


@matrix
def test_structured_output(gw, client, alias):
    """with_structured_output returns the pydantic object."""
    assert llm(client, gw, alias).with_structured_output(City).invoke("a city") == City(city="test")


@matrix
def test_image_input(gw, client, alias):
    """A base64 image part travels with the text (each client's own image block)."""
    if client == "ChatOpenAI":
        image = {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}}
    else:
        image = {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/png", "data": PIXEL},
        }
    message = HumanMessage(content=[{"type": "text", "text": "hello there"}, image])
    assert llm(client, gw, alias).invoke([message]).text == "echo: hello there"


@pytest.fixture()
def litellm(monkeypatch):
    """The LiteLLM SDK, told to use its bundled price list (it would download one)."""
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    yield litellm
    # LiteLLM keeps its HTTP clients in a module-level cache; close the sync ones it made.
    cache = litellm.in_memory_llm_clients_cache
    for client in list(getattr(cache, "cache_dict", {}).values()):
        close = getattr(client, "close", None)
        if callable(close) and not inspect.iscoroutinefunction(close):
            close()
    cache.flush_cache()
    # LiteLLM's sync calls may leave an event loop set on this thread (never closed).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            loop = asyncio.get_event_loop_policy().get_event_loop()
        except RuntimeError:  # none set (set_event_loop(None) by an earlier test)
            return
    if not loop.is_running():
        loop.close()
        asyncio.set_event_loop(None)


def litellm_warnings(test):
    """Ignore LiteLLM's own warnings (its code, not lockgate's; warnings are errors here):
    its stream wrapper reads pydantic attributes pydantic 2.11+ deprecates, and building
    its response models lazily warns about a ReadOnly TypedDict item."""
    for spec in (
        "ignore:Accessing the '.*' attribute on the instance:DeprecationWarning",
        "ignore:Item '.*' on TypedDict class '.*' is using the `ReadOnly` qualifier:UserWarning",
    ):
        test = pytest.mark.filterwarnings(spec)(test)
    return test


TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


@litellm_warnings
@pytest.mark.parametrize(
    ("route", "alias"), [(r, a) for r in ("openai", "anthropic") for a in PROVIDERS]
)
def test_litellm_sdk(litellm, gw, route, alias):
    """LiteLLM's completion through the gateway's OpenAI route or /v1/messages (its
    anthropic provider): text, stream with usage, tools, structured output, image."""
    base = gw.v1 if route == "openai" else gw.url
    kw = {"model": f"{route}/{alias}", "api_base": base, "api_key": MASTER, "num_retries": 0}
    hi = [{"role": "user", "content": "hello there"}]
    assert litellm.completion(messages=hi, **kw).choices[0].message.content == "echo: hello there"
    chunks = list(
        litellm.completion(messages=hi, stream=True, stream_options={"include_usage": True}, **kw)
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == (
        "echo: hello there"
    )
    assert any(getattr(c, "usage", None) and c.usage.completion_tokens for c in chunks)
    ask = [{"role": "user", "content": "CALL_TOOL Paris"}]
    (call,) = litellm.completion(messages=ask, tools=[TOOL], **kw).choices[0].message.tool_calls
    assert call.function.name == "get_weather"
    parsed = litellm.completion(messages=hi, response_format=City, **kw)
    assert City.model_validate_json(parsed.choices[0].message.content) == City(city="test")
    image = {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}}
    pic = [{"role": "user", "content": [{"type": "text", "text": "hello there"}, image]}]
    assert litellm.completion(messages=pic, **kw).choices[0].message.content == (
        "echo: hello there"
    )


def responses_llm(gw, alias: str) -> ChatOpenAI:
    """ChatOpenAI speaking OpenAI's Responses API (/v1/responses) to the gateway."""
    return ChatOpenAI(
        model=alias, base_url=gw.v1, api_key=MASTER, max_retries=0, use_responses_api=True
    )


responses_matrix = pytest.mark.parametrize("alias", list(PROVIDERS))


@responses_matrix
def test_chatopenai_responses_api(gw, alias):
    """ChatOpenAI(use_responses_api=True): invoke, stream with usage, tools plain and
    streamed, structured output and an image, all through /v1/responses."""
    model = responses_llm(gw, alias)
    assert model.invoke("hello there").text == "echo: hello there"
    total = summed(model.stream("hello there"))
    assert total.text == "echo: hello there"
    assert total.usage_metadata is not None and total.usage_metadata["output_tokens"] > 0
    tooled = model.bind_tools([get_weather])
    (call,) = tooled.invoke("CALL_TOOL Paris").tool_calls
    assert call["name"] == "get_weather" and call["args"] == {"city": "test"}
    (streamed,) = summed(tooled.stream("CALL_TOOL Paris")).tool_calls
    assert streamed["name"] == "get_weather" and streamed["args"] == {"city": "test"}
    assert model.with_structured_output(City).invoke("a city") == City(city="test")
    image = {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}}
    message = HumanMessage(content=[{"type": "text", "text": "hello there"}, image])
    assert model.invoke([message]).text == "echo: hello there"


@litellm_warnings
@responses_matrix
def test_litellm_sdk_responses(litellm, gw, alias):
    """LiteLLM's responses() through /v1/responses: text, stream with usage, tools,
    structured output, image, and a continuation by previous_response_id."""
    kw = {"model": f"openai/{alias}", "api_base": gw.v1, "api_key": MASTER, "num_retries": 0}
    first = litellm.responses(input="hello there", **kw)
    assert first.output[0].content[0].text == "echo: hello there"
    events = list(litellm.responses(input="hello there", stream=True, **kw))
    done = [e for e in events if e.type == "response.completed"]
    assert done and done[0].response.usage.output_tokens > 0
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == "echo: hello there"
    tool = {"type": "function", "name": "get_weather", "parameters": TOOL["function"]["parameters"]}
    called = litellm.responses(input="CALL_TOOL Paris", tools=[tool], **kw)
    (call,) = [o for o in called.output if o.type == "function_call"]
    assert call.name == "get_weather" and json.loads(call.arguments) == {"city": "test"}
    schema = {
        "type": "json_schema",
        "name": "City",
        "schema": City.model_json_schema(),
    }
    parsed = litellm.responses(input="a city", text={"format": schema}, **kw)
    assert City.model_validate_json(parsed.output[0].content[0].text) == City(city="test")
    pic = [
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": "hello there"},
                {"type": "input_image", "image_url": f"data:image/png;base64,{PIXEL}"},
            ],
        }
    ]
    assert litellm.responses(input=pic, **kw).output[0].content[0].text == "echo: hello there"
    follow = litellm.responses(input="again", previous_response_id=first.id, **kw)
    assert follow.output[0].content[0].text == "echo: again"


@litellm_warnings
@responses_matrix
def test_litellm_sdk_text_completion(litellm, gw, alias):
    """LiteLLM's text_completion through /v1/completions: text and stream with usage."""
    kw = {
        "model": f"text-completion-openai/{alias}",
        "api_base": gw.v1,
        "api_key": MASTER,
        "num_retries": 0,
    }
    answer = litellm.text_completion(prompt="hello there", **kw)
    assert answer.choices[0].text == "echo: hello there"
    assert answer.usage.completion_tokens > 0
    chunks = list(
        litellm.text_completion(
            prompt="hello there", stream=True, stream_options={"include_usage": True}, **kw
        )
    )
    assert "".join(c.choices[0].text or "" for c in chunks if c.choices) == "echo: hello there"
    assert any(getattr(c, "usage", None) and c.usage.completion_tokens for c in chunks)


@responses_matrix
def test_langchain_openai_llm_completions(gw, alias):
    """LangChain's completion-model class (langchain_openai.OpenAI) through
    /v1/completions: invoke and stream."""
    model = OpenAI(model=alias, base_url=gw.v1, api_key=MASTER, max_retries=0)
    assert model.invoke("hello there") == "echo: hello there"
    assert "".join(model.stream("hello there")) == "echo: hello there"
