"""The official SDKs see provider prompt caching through the gateway; budgets on an
OpenAI alias count with tiktoken and fall back to the model's window."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import anthropic
import openai
import pytest
from tests.fakes import ThreadedFake, start_in_thread
from tests.fakes.server import FakeUpstream
from tests.live_server import LiveGateway, serve_in_thread
from tests.support import MASTER, bearer

from lockgate.contextbudget.factory import build_context_stages
from lockgate.promptcache.stage import build_auto_cache
from lockgate.router import Router
from lockgate.settings import ConfigError, settings_from_mapping
from lockgate.token_count import TiktokenCounter

LONG = "The warehouse policy says parcels leave at noon and arrive within two days. " * 60


@pytest.fixture()
async def fake() -> AsyncIterator[FakeUpstream]:
    """A fake provider whose Anthropic route keeps a prompt cache."""
    upstream = FakeUpstream(prompt_cache=True)
    await upstream.start()
    yield upstream
    await upstream.stop()


def _models(fake: FakeUpstream, **info: Any) -> list[dict[str, Any]]:
    return [
        {
            "model_name": "claude",
            "params": {
                "model": "anthropic/claude-sonnet-4-5",
                "api_base": fake.base_url,
                "api_key": "sk-ant",
            },
        },
        {
            "model_name": "gpt",
            "params": {
                "model": "openai/gpt-4o-mini",
                "api_base": fake.openai_base_url,
                "api_key": "sk-oai",
            },
            "model_info": info,
        },
    ]


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[tuple[ThreadedFake, LiveGateway]]:
    """A caching fake and a real gateway in front of it, each on its own thread."""
    with start_in_thread(prompt_cache=True) as threaded:
        db = tmp_path_factory.mktemp("sdk") / "gw.db"
        data = {
            "model_list": _models(threaded.fake),
            "general_settings": {"master_key": MASTER, "database_url": f"sqlite+aiosqlite:///{db}"},
        }
        with serve_in_thread(settings_from_mapping(data, env={})) as gateway:
            yield threaded, gateway


def test_anthropic_sdk_reads_cache_counts(live):
    """Second identical marked request: the SDK's usage shows the cache read."""
    _, gateway = live
    with anthropic.Anthropic(api_key=MASTER, base_url=gateway.url, max_retries=0) as client:
        system: Any = [{"type": "text", "text": LONG, "cache_control": {"type": "ephemeral"}}]
        first, second = (
            client.messages.create(
                model="claude",
                max_tokens=20,
                system=system,
                messages=[{"role": "user", "content": text}],
            )
            for text in ("sdk a", "sdk b")
        )
    assert first.usage.cache_creation_input_tokens and first.usage.cache_read_input_tokens == 0
    assert second.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens


def test_openai_sdk_sees_cached_tokens_from_an_anthropic_model(live):
    """An OpenAI client's cache_control parts reach Anthropic; cached_tokens come back."""
    _, gateway = live
    system: Any = {
        "role": "system",
        "content": [{"type": "text", "text": LONG * 2, "cache_control": {"type": "ephemeral"}}],
    }
    with openai.OpenAI(api_key=MASTER, base_url=gateway.v1, max_retries=0) as client:
        usages = [
            client.chat.completions.create(
                model="claude", max_tokens=20, messages=[system, {"role": "user", "content": t}]
            ).usage
            for t in ("x", "y")
        ]
    assert usages[0].prompt_tokens_details.cached_tokens == 0
    assert usages[1].prompt_tokens_details.cached_tokens > 1024
    assert usages[1].prompt_tokens == usages[0].prompt_tokens


def _history(turns: int) -> list[dict[str, str]]:
    msgs = [{"role": "system", "content": "Answer briefly."}]
    for i in range(turns):
        msgs.append({"role": "user", "content": f"turn {i} " + "words " * 200})
        msgs.append({"role": "assistant", "content": "ok " * 50})
    msgs.append({"role": "user", "content": "last question"})
    return msgs


@pytest.mark.parametrize("stream", [False, True])
async def test_openai_alias_budget_from_the_window_cuts_with_tiktoken(fake, open_gateway, stream):
    """No max_input_tokens: the window (model_info) less max_tokens is the budget; the
    cut keeps system, first exchange and last turn, and says so in a header."""
    gw = await open_gateway(
        _models(fake, max_input_tokens=3000),
        context={"aliases": {"gpt": {"strategy": "truncate_middle"}}},
    )
    body = {"model": "gpt", "max_tokens": 500, "messages": _history(12), "stream": stream}
    r = await gw.client.post("/v1/chat/completions", headers=bearer(), json=body)
    assert r.status_code == 200, r.text
    fields = dict(f.split("=") for f in r.headers["x-lockgate-context"].split("; "))
    assert int(fields["limit"]) == 2500
    assert int(fields["tokens"]) > 2500 >= int(fields["sent"])
    sent = next(q.body for q in fake.requests if q.path.endswith("/chat/completions"))
    msgs = sent["messages"]
    assert msgs[0]["role"] == "system" and msgs[1]["content"].startswith("turn 0 ")
    assert msgs[-1]["content"] == "last question" and len(msgs) < len(body["messages"])
    assert [m["role"] for m in msgs[1:3]] == ["user", "assistant"]


async def test_compression_flag_normalises_and_points_at_repeated_results(fake, open_gateway):
    """compress: true sends trailing-space-free text and one copy of a repeated result."""
    gw = await open_gateway(
        _models(fake), context={"aliases": {"gpt": {"max_input_tokens": 100000, "compress": True}}}
    )
    result = "id,status\n" + "7,shipped   \n" * 20
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    messages = [
        {"role": "user", "content": "check   \n\n\n\nplease"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": result},
        {"role": "assistant", "content": None, "tool_calls": [{**call, "id": "c2"}]},
        {"role": "tool", "tool_call_id": "c2", "content": result},
        {"role": "user", "content": "and?"},
    ]
    r = await gw.client.post(
        "/v1/chat/completions", headers=bearer(), json={"model": "gpt", "messages": messages}
    )
    assert r.status_code == 200, r.text
    sent = next(q.body for q in fake.requests if q.path.endswith("/chat/completions"))["messages"]
    assert sent[0]["content"] == "check\n\nplease"
    assert "   \n" not in sent[2]["content"]
    assert sent[4]["content"] == "[The same result as tool call c1 above.]"


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"prompt_cache": {"auto_cache": ["gpt"]}}, "served by Anthropic only"),
        ({"prompt_cache": {"auto_cache": ["nope"]}}, "unknown model_name"),
        ({"context": {"aliases": {"nope": {"max_input_tokens": 10}}}}, "unknown model_name"),
        ({"context": {"aliases": {"gpt": {"strategy": "squash"}}}}, "strategy"),
    ],
)
def test_bad_configs_are_refused(section, message):
    """auto_cache on a non-Anthropic alias, unknown aliases, unknown strategies."""
    models = [
        {"model_name": "claude", "params": {"model": "anthropic/claude-sonnet-4-5"}},
        {"model_name": "gpt", "params": {"model": "openai/gpt-4o-mini"}},
    ]
    with pytest.raises((ConfigError, ValueError), match=message):
        settings = settings_from_mapping({"model_list": models, **section}, env={})
        router = Router(settings.deployments())
        build_auto_cache(settings.prompt_cache, router)
        build_context_stages(settings, router, TiktokenCounter())


async def test_responses_route_passes_prompt_cache_key(fake, open_gateway):
    """/v1/responses -> chat: prompt_cache_key and its retention reach the OpenAI upstream."""
    gw = await open_gateway(_models(fake))
    body = {
        "model": "gpt",
        "input": "hello",
        "prompt_cache_key": "tenant-7",
        "prompt_cache_retention": "24h",
    }
    r = await gw.client.post("/v1/responses", headers=bearer(), json=body)
    assert r.status_code == 200, r.text
    sent = next(q.body for q in fake.requests if q.path.endswith("/chat/completions"))
    assert (sent["prompt_cache_key"], sent["prompt_cache_retention"]) == ("tenant-7", "24h")
