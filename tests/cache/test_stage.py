"""The cache stage in a real Pipeline in front of a terminal that plays the upstream."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from tests.cache.cache_samples import ManualClock, text_completion, tool_completion

from lockgate.auth.keys import Principal
from lockgate.cache import (
    AliasCachePolicy,
    Coalescer,
    MemoryStore,
    ResponseCache,
    aggregate_chunks,
    replay_chunks,
)
from lockgate.cache.stage import CacheStage
from lockgate.chat import ChatRequest, ChatResponse, ChatStream, usage_from_openai
from lockgate.context import RequestContext
from lockgate.errors import BadRequestError, InternalError, UpstreamOverloadedError
from lockgate.pipeline import Pipeline, Result


class Upstream:
    """A terminal handler: records what it saw and answers from a script."""

    def __init__(self, completion: dict[str, Any] | None = None) -> None:
        self.completion = completion or text_completion()
        self.seen: list[dict[str, Any]] = []
        self.fail: BaseException | None = None
        self.cut_after: int | None = None
        self.gate: asyncio.Event | None = None

    async def __call__(self, ctx: RequestContext, request: ChatRequest) -> Result:
        self.seen.append(request.body)
        if self.gate is not None:
            await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        if request.stream:
            return self._stream()
        return ChatResponse(self.completion, usage_from_openai(self.completion.get("usage")))

    async def _stream(self) -> ChatStream:
        for i, chunk in enumerate(replay_chunks(self.completion, include_usage=True)):
            if self.cut_after is not None and i >= self.cut_after:
                raise UpstreamOverloadedError("stream broke")
            yield chunk


def context(team: str = "a", header: str | None = None) -> RequestContext:
    """A request context for a key of ``team``."""
    headers = {"x-lockgate-cache": header} if header else {}
    return RequestContext(
        request_id="r",
        principal=Principal(kind="key", key_id="k1", team=team),
        api="openai",
        client_headers=headers,
    )


def chat(stream: bool = False, **extra: Any) -> ChatRequest:
    """A deterministic chat request."""
    body = {
        "model": "fast",
        "messages": [{"role": "user", "content": "hi"}],
        "temperature": 0,
        "stream": stream,
        **extra,
    }
    return ChatRequest(model="fast", body=body, stream=stream)


def build(upstream: Upstream, clock: ManualClock, **policy: Any) -> tuple[Pipeline, ResponseCache]:
    """A pipeline of just the cache stage in front of ``upstream``."""
    cache = ResponseCache(
        store=MemoryStore(max_bytes=1 << 20, clock=clock),
        wall_clock=clock,
        coalescer=Coalescer(),
        policies={"fast": AliasCachePolicy(**policy)} if policy else {},
    )
    return Pipeline([CacheStage(cache)], upstream), cache


async def drain(result: Result) -> list[Any]:
    """The chunks of a stream result."""
    assert not isinstance(result, ChatResponse)
    return [c async for c in result]


async def test_second_identical_request_is_a_hit(clock: ManualClock) -> None:
    """The second request is answered from the cache without reaching upstream."""
    upstream = Upstream()
    pipe, cache = build(upstream, clock)
    first_ctx, second_ctx = context(), context()
    first = await pipe(first_ctx, chat())
    second = await pipe(second_ctx, chat())
    assert isinstance(first, ChatResponse) and isinstance(second, ChatResponse)
    assert len(upstream.seen) == 1
    assert second.body == first.body
    assert second.usage.total_tokens == 12
    assert (first_ctx.cache_status, second_ctx.cache_status) == ("miss", "hit")
    assert cache.stats.hits == 1


async def test_stream_recorded_entry_serves_both_kinds(clock: ManualClock) -> None:
    """A streamed miss is stored; a later stream is replayed and a non-stream gets the whole."""
    upstream = Upstream(tool_completion())
    pipe, _ = build(upstream, clock)
    live = await drain(await pipe(context(), chat(stream=True)))
    replayed = await drain(await pipe(context(), chat(stream=True)))
    whole = await pipe(context(), chat())
    assert len(upstream.seen) == 1
    assert aggregate_chunks(replayed) == aggregate_chunks(live) == tool_completion()
    assert isinstance(whole, ChatResponse) and whole.body == tool_completion()


async def test_nondeterministic_requests_bypass(clock: ManualClock) -> None:
    """Without temperature 0 or a seed every request goes upstream."""
    upstream = Upstream()
    pipe, _ = build(upstream, clock)
    ctx = context()
    for _ in range(2):
        await pipe(ctx, chat(temperature=0.7))
    assert len(upstream.seen) == 2
    assert ctx.cache_status == "bypass"


async def test_a_bypass_is_counted_and_keeps_the_stages_checks(clock: ManualClock) -> None:
    """A request the cache neither reads nor writes goes straight on (both kinds),
    counted as a bypass, the cache field still stripped, a wrong kind of answer still
    refused, and a later stage's own status kept."""
    upstream = Upstream()
    pipe, cache = build(upstream, clock, mode="off")
    ctx = context()
    whole = await pipe(ctx, chat(cache={"no_store": True}))
    assert isinstance(whole, ChatResponse) and ctx.cache_status == "bypass"
    assert "cache" not in upstream.seen[-1]
    streamed = await drain(await pipe(context(), chat(stream=True)))
    assert aggregate_chunks(streamed) == text_completion()
    assert cache.stats.bypasses == 2 and cache.stats.misses == cache.stats.hits == 0

    async def wrong_kind(ctx: RequestContext, request: ChatRequest) -> Result:
        return await Upstream()(ctx, chat(stream=not request.stream))

    wrong = Pipeline([CacheStage(cache)], wrong_kind)
    with pytest.raises(InternalError, match="non-streaming request got a stream"):
        await wrong(context(), chat())
    with pytest.raises(InternalError, match="streaming request got a complete response"):
        await wrong(context(), chat(stream=True))

    async def semantic_hit(ctx: RequestContext, request: ChatRequest) -> Result:
        ctx.cache_status = "semantic-hit"  # a later cache stage answered
        return await upstream(ctx, request)

    later = context()
    await Pipeline([CacheStage(cache)], semantic_hit)(later, chat())
    assert later.cache_status == "semantic-hit"


async def test_cache_field_is_stripped_before_upstream(clock: ManualClock) -> None:
    """The body's cache control never reaches the provider and the client's body is untouched."""
    upstream = Upstream()
    pipe, _ = build(upstream, clock)
    request = chat(cache={"no_store": True})
    await pipe(context(), request)
    await pipe(context(), chat())
    assert "cache" not in upstream.seen[0]
    assert "cache" in request.body
    assert len(upstream.seen) == 2  # no_store: nothing was written


async def test_no_cache_header_refreshes_the_entry(clock: ManualClock) -> None:
    """no-cache goes upstream even when cached, and stores the fresh answer."""
    upstream = Upstream(text_completion("old"))
    pipe, _ = build(upstream, clock)
    await pipe(context(), chat())
    upstream.completion = text_completion("new")
    fresh = await pipe(context(header="no-cache"), chat())
    cached = await pipe(context(), chat())
    assert isinstance(fresh, ChatResponse) and fresh.text == "new"
    assert isinstance(cached, ChatResponse) and cached.text == "new"
    assert len(upstream.seen) == 2


async def test_bad_cache_header_is_rejected(clock: ManualClock) -> None:
    """A malformed control header is a 400 before anything goes upstream."""
    upstream = Upstream()
    pipe, _ = build(upstream, clock)
    with pytest.raises(BadRequestError):
        await pipe(context(header="forever"), chat())
    assert upstream.seen == []


async def test_entries_expire_by_alias_ttl(clock: ManualClock) -> None:
    """After the alias TTL the next request goes upstream again."""
    upstream = Upstream()
    pipe, _ = build(upstream, clock, ttl=10)
    await pipe(context(), chat())
    clock.advance(10)
    await pipe(context(), chat())
    assert len(upstream.seen) == 2


async def test_tenants_do_not_share_entries(clock: ManualClock) -> None:
    """Another team's identical request is a miss."""
    upstream = Upstream()
    pipe, _ = build(upstream, clock)
    await pipe(context(team="a"), chat())
    ctx = context(team="b")
    await pipe(ctx, chat())
    assert len(upstream.seen) == 2
    assert ctx.cache_status == "miss"


async def test_content_filtered_answers_are_not_stored(clock: ManualClock) -> None:
    """A content_filter finish is served but never cached."""
    upstream = Upstream(text_completion("", finish="content_filter"))
    pipe, _ = build(upstream, clock)
    await pipe(context(), chat())
    await pipe(context(), chat())
    assert len(upstream.seen) == 2


async def test_broken_stream_is_not_stored(clock: ManualClock) -> None:
    """A stream that fails midway reaches the client as an error and is not cached."""
    upstream = Upstream()
    upstream.cut_after = 1
    pipe, _ = build(upstream, clock)
    with pytest.raises(UpstreamOverloadedError):
        await drain(await pipe(context(), chat(stream=True)))
    upstream.cut_after = None
    await pipe(context(), chat())
    assert len(upstream.seen) == 2


async def test_stream_failure_before_first_chunk_raises_from_the_stage(
    clock: ManualClock,
) -> None:
    """An upstream error before any chunk is raised by the pipeline call itself."""
    upstream = Upstream()
    upstream.fail = UpstreamOverloadedError("down")
    pipe, _ = build(upstream, clock)
    with pytest.raises(UpstreamOverloadedError):
        await pipe(context(), chat(stream=True))


async def test_concurrent_identical_requests_share_one_upstream_call(clock: ManualClock) -> None:
    """50 concurrent identical misses make one upstream call; followers are marked."""
    upstream = Upstream()
    upstream.gate = asyncio.Event()
    pipe, _ = build(upstream, clock)
    contexts = [context() for _ in range(50)]
    tasks = [asyncio.create_task(pipe(c, chat())) for c in contexts]
    for _ in range(5):
        await asyncio.sleep(0)
    upstream.gate.set()
    async with asyncio.timeout(5):
        results = await asyncio.gather(*tasks)
    assert len(upstream.seen) == 1
    assert all(isinstance(r, ChatResponse) and r.text == "Hello there!" for r in results)
    assert sum(bool(c.notes.get("cache_coalesced")) for c in contexts) == 49
    assert contexts[1].headers["x-lockgate-coalesced"] == "1"


async def test_concurrent_identical_streams_share_one_upstream_call(clock: ManualClock) -> None:
    """50 concurrent identical streaming misses make one upstream call with identical chunks."""
    upstream = Upstream()
    upstream.gate = asyncio.Event()
    pipe, _ = build(upstream, clock)

    async def one() -> list[Any]:
        return await drain(await pipe(context(), chat(stream=True)))

    tasks = [asyncio.create_task(one()) for _ in range(50)]
    for _ in range(5):
        await asyncio.sleep(0)
    upstream.gate.set()
    async with asyncio.timeout(5):
        results = await asyncio.gather(*tasks)
    assert len(upstream.seen) == 1
    assert all(r == results[0] for r in results)
    assert aggregate_chunks(results[0]) == text_completion()


async def test_answers_from_a_later_cache_stage_are_not_stored(clock: ManualClock) -> None:
    """A semantic hit further down keeps its status and is not copied into the exact cache."""
    upstream = Upstream()

    async def semantic(ctx: RequestContext, request: ChatRequest, call_next: Any) -> Result:
        if request.body["messages"][0]["content"] == "hi":
            ctx.cache_status = "semantic-hit"
        return await call_next(ctx, request)

    cache = ResponseCache(store=MemoryStore(max_bytes=1 << 20, clock=clock), wall_clock=clock)
    pipe = Pipeline([CacheStage(cache), semantic], upstream)
    ctxs = [context() for _ in range(2)]
    await pipe(ctxs[0], chat())
    await drain(await pipe(ctxs[1], chat(stream=True)))
    assert [c.cache_status for c in ctxs] == ["semantic-hit", "semantic-hit"]
    assert cache.stats.writes == 0


async def settle() -> None:
    """Let ready tasks run a few steps (bounded)."""
    for _ in range(5):
        await asyncio.sleep(0)


async def test_non_stream_request_joins_an_inflight_stream(clock: ManualClock) -> None:
    """A non-streaming request identical to a stream in flight gets the assembled answer."""
    upstream = Upstream(tool_completion())
    upstream.gate = asyncio.Event()
    pipe, _ = build(upstream, clock)
    streaming = asyncio.create_task(pipe(context(), chat(stream=True)))
    await settle()
    ctx = context()
    plain = asyncio.create_task(pipe(ctx, chat()))
    await settle()
    upstream.gate.set()
    async with asyncio.timeout(5):
        chunks = await drain(await streaming)
        whole = await plain
    assert len(upstream.seen) == 1
    assert isinstance(whole, ChatResponse) and whole.body == tool_completion()
    assert aggregate_chunks(chunks) == tool_completion()
    assert ctx.notes["cache_coalesced"] is True


async def test_stream_request_joins_an_inflight_non_stream_call(clock: ManualClock) -> None:
    """A streaming request identical to a non-streaming call in flight gets it replayed."""
    upstream = Upstream(tool_completion())
    upstream.gate = asyncio.Event()
    pipe, _ = build(upstream, clock)
    plain = asyncio.create_task(pipe(context(), chat()))
    await settle()
    streaming = asyncio.create_task(pipe(context(), chat(stream=True)))
    await settle()
    upstream.gate.set()
    async with asyncio.timeout(5):
        whole = await plain
        chunks = await drain(await streaming)
    assert len(upstream.seen) == 1
    assert isinstance(whole, ChatResponse)
    assert aggregate_chunks(chunks) == whole.body == tool_completion()


async def test_joined_stream_failure_reaches_the_non_stream_request(clock: ManualClock) -> None:
    """If the shared stream fails, the non-streaming request joined to it fails too."""
    upstream = Upstream()
    upstream.gate = asyncio.Event()
    upstream.cut_after = 2
    pipe, _ = build(upstream, clock)
    streaming = asyncio.create_task(pipe(context(), chat(stream=True)))
    await settle()
    plain = asyncio.create_task(pipe(context(), chat()))
    await settle()
    upstream.gate.set()
    async with asyncio.timeout(5):
        with pytest.raises(UpstreamOverloadedError):
            await drain(await streaming)
        with pytest.raises(UpstreamOverloadedError):
            await plain
