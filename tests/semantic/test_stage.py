"""The semantic cache stage in a real Pipeline in front of a scripted upstream."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from lockgate.auth.keys import Principal
from lockgate.cache import aggregate_chunks, replay_chunks
from lockgate.cache.semantic.embedder import LocalEmbedder
from lockgate.cache.semantic.index import MemoryIndex
from lockgate.cache.semantic.live_shared import SharedTallies
from lockgate.cache.semantic.metrics import SemanticCollector
from lockgate.cache.semantic.redis_index import RedisIndex
from lockgate.cache.semantic.semantic_cache import SemanticCache, SemanticSettings
from lockgate.cache.semantic.stage import NOTES_KEY, SemanticCacheStage
from lockgate.chat import ChatRequest, ChatResponse, ChatStream, usage_from_openai
from lockgate.context import RequestContext
from lockgate.pipeline import Pipeline, Result

NOW = 1_800_000_000.0


def completion(text: str) -> dict[str, Any]:
    """A finished chat.completion saying ``text``."""
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
    }


class Upstream:
    """A terminal handler that counts calls and answers with a numbered completion."""

    def __init__(self) -> None:
        self.calls = 0
        self.finish: str | None = "stop"

    async def __call__(self, ctx: RequestContext, request: ChatRequest) -> Result:
        self.calls += 1
        body = completion(f"answer {self.calls}")
        body["choices"][0]["finish_reason"] = self.finish
        if request.stream:
            return _stream(replay_chunks(body, include_usage=True))
        return ChatResponse(body, usage_from_openai(body["usage"]))


async def _stream(chunks: list[dict[str, Any]]) -> ChatStream:
    for chunk in chunks:
        yield chunk


def ctx(team: str = "a", header: str | None = None) -> RequestContext:
    """A request context for a key of ``team``."""
    return RequestContext(
        request_id="r",
        principal=Principal(kind="key", key_id="k1", team=team),
        api="openai",
        client_headers={"x-lockgate-cache": header} if header else {},
    )


def chat(text: str, *, stream: bool = False, model: str = "fast") -> ChatRequest:
    """A chat request whose last user turn is ``text``."""
    body = {"model": model, "messages": [{"role": "user", "content": text}], "stream": stream}
    return ChatRequest(model=model, body=body, stream=stream, include_usage=stream)


def build(
    embedder: LocalEmbedder, settings: SemanticSettings | None = None, index: Any = None
) -> tuple[Pipeline, Upstream, SemanticCacheStage]:
    """A pipeline of just the semantic stage for alias ``fast``."""
    upstream = Upstream()
    index = index if index is not None else MemoryIndex(embedder.dim)
    cache = SemanticCache(embedder, index, SemanticSettings())
    stage = SemanticCacheStage(
        cache, {"fast": settings or SemanticSettings()}, wall_clock=lambda: NOW
    )
    return Pipeline([stage], upstream), upstream, stage


async def text_of(result: Result) -> str:
    """The answer text of a response or a whole stream."""
    if isinstance(result, ChatResponse):
        return result.text
    chunks = [chunk async for chunk in result]
    return str(aggregate_chunks(chunks)["choices"][0]["message"]["content"])


Q1 = "How do I reset my password?"
Q2 = "How can I reset my password?"


async def test_paraphrase_is_served_without_upstream(local_embedder: LocalEmbedder) -> None:
    """The second wording is answered from the first one's answer."""
    pipeline, upstream, stage = build(local_embedder)
    assert await text_of(await pipeline(ctx(), chat(Q1))) == "answer 1"
    c = ctx()
    assert await text_of(await pipeline(c, chat(Q2))) == "answer 1"
    assert upstream.calls == 1
    assert c.cache_status == "semantic-hit"
    assert c.notes[NOTES_KEY]["served"] is True
    assert c.notes[NOTES_KEY]["score"] >= 0.9
    assert stage.stats.hits == 1 and stage.stats.writes == 1


async def test_streams_are_stored_and_replayed(local_embedder: LocalEmbedder) -> None:
    """A streamed answer is stored once finished and replayed to a streaming paraphrase."""
    pipeline, upstream, _ = build(local_embedder)
    assert await text_of(await pipeline(ctx(), chat(Q1, stream=True))) == "answer 1"
    assert await text_of(await pipeline(ctx(), chat(Q2, stream=True))) == "answer 1"
    assert await text_of(await pipeline(ctx(), chat(Q2))) == "answer 1"
    assert upstream.calls == 1


async def test_unfinished_answers_are_not_stored(local_embedder: LocalEmbedder) -> None:
    """A stream the client abandons, or an answer without finish_reason, is not stored."""
    pipeline, upstream, _ = build(local_embedder)
    stream = await pipeline(ctx(), chat(Q1, stream=True))
    assert not isinstance(stream, ChatResponse)
    await anext(stream)
    await stream.aclose()  # type: ignore[attr-defined]
    upstream.finish = None
    await pipeline(ctx(), chat(Q1))
    await pipeline(ctx(), chat(Q2))
    assert upstream.calls == 3


async def test_shadow_mode_records_but_never_serves(local_embedder: LocalEmbedder) -> None:
    """Shadow mode calls upstream every time and notes the would-be hit."""
    pipeline, upstream, stage = build(local_embedder, SemanticSettings(shadow=True))
    await pipeline(ctx(), chat(Q1))
    c = ctx()
    assert await text_of(await pipeline(c, chat(Q2))) == "answer 2"
    assert upstream.calls == 2
    assert c.cache_status is None
    assert c.notes[NOTES_KEY]["shadow"] is True
    assert c.notes[NOTES_KEY]["would_hit"] is True
    assert stage.stats.shadow_would_hit == 1 and stage.stats.hits == 0


async def test_near_miss_goes_upstream(local_embedder: LocalEmbedder) -> None:
    """A vetoed near miss is answered upstream and the veto is noted."""
    pipeline, _, _ = build(local_embedder, SemanticSettings(threshold=0.6))
    await pipeline(ctx(), chat("What is 2+2?"))
    c = ctx()
    assert await text_of(await pipeline(c, chat("What is 2+3?"))) == "answer 2"
    assert c.notes[NOTES_KEY]["vetoed_by"] == "numbers"


async def test_only_opted_in_aliases_and_own_tenant(local_embedder: LocalEmbedder) -> None:
    """Other aliases pass through untouched; another team never gets this team's answer."""
    pipeline, upstream, _ = build(local_embedder)
    await pipeline(ctx(), chat(Q1, model="other"))
    await pipeline(ctx(), chat(Q1, model="other"))
    assert upstream.calls == 2
    await pipeline(ctx("a"), chat(Q1))
    assert await text_of(await pipeline(ctx("b"), chat(Q2))) == "answer 4"


@pytest.mark.parametrize(("header", "calls"), [("no-cache", 2), ("no-store", 2)])
async def test_client_controls(local_embedder: LocalEmbedder, header: str, calls: int) -> None:
    """no-cache skips the lookup; no-store keeps the answer out of the cache."""
    pipeline, upstream, _ = build(local_embedder)
    if header == "no-store":
        await pipeline(ctx(header=header), chat(Q1))
        await pipeline(ctx(), chat(Q2))
    else:
        await pipeline(ctx(), chat(Q1))
        await pipeline(ctx(header=header), chat(Q2))
    assert upstream.calls == calls


async def test_store_down_is_a_miss(local_embedder: LocalEmbedder, own_redis: Any) -> None:
    """With Redis gone, requests still succeed, upstream answers and the error is noted."""
    index = RedisIndex.from_url(own_redis.url, local_embedder.dim)
    pipeline, _, stage = build(local_embedder, index=index)
    try:
        own_redis.stop()
        c = ctx()
        assert await text_of(await pipeline(c, chat(Q1))) == "answer 1"
        assert c.notes[NOTES_KEY] == {"error": "store unavailable"}
        assert stage.stats.store_errors == 2  # the lookup and the write
    finally:
        await index.close()


async def test_shared_tallies_gone_count_the_outcome_here(
    local_embedder: LocalEmbedder, own_redis: Any
) -> None:
    """A verified hit whose shared tally cannot be written (Redis died after the hit was
    served): the failure is counted and the outcome still counts in this process."""
    index = RedisIndex.from_url(own_redis.url, local_embedder.dim)
    pipeline, upstream, stage = build(
        local_embedder, SemanticSettings(verify_sample_rate=1.0), index=index
    )
    assert stage.live is not None
    stage.shared = SharedTallies(index.client, stage.live, prefix=index.prefix)
    try:
        assert await text_of(await pipeline(ctx(), chat(Q1))) == "answer 1"
        c = ctx()
        assert await text_of(await pipeline(c, chat(Q2))) == "answer 1"
        assert c.cache_status == "semantic-hit"
        own_redis.stop()  # before the background verification runs
        await asyncio.gather(*list(stage._tasks))
        assert upstream.calls == 2  # the verification asked upstream again
        assert [k for k in stage.stats.errors if k.startswith("live:")] != []
        e = stage.live.estimate("fast")
        assert e is not None and e.verified == 1
        stage.shared.maybe_refresh()  # reading the others' tallies fails too: counted
        for _ in range(100):  # bounded: ~10 s
            if stage.shared.refresh_errors:
                break
            await asyncio.sleep(0.1)
        exported = {
            (s.labels["where"], s.labels["error"]): s.value
            for family in SemanticCollector(stage).collect()
            if family.name == "lockgate_semantic_errors"
            for s in family.samples
        }
        assert exported[("live", "refresh")] == 1
    finally:
        await stage.aclose()
        await index.close()
