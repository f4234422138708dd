"""What keeps a lookup's tail short: short texts embedded without a thread hop, and
token vectors that travel with a Redis entry so another replica's entry is not cold."""

from __future__ import annotations

import asyncio
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.semantic.test_verifier import CountingEmbedder
from tests.support import MASTER

from lockgate.cache.semantic.embedder import LocalEmbedder, TokenVectors
from lockgate.cache.semantic.index import MemoryIndex
from lockgate.cache.semantic.partition import SemanticQuery
from lockgate.cache.semantic.redis_index import RedisIndex
from lockgate.cache.semantic.semantic_cache import SemanticCache, SemanticSettings
from lockgate.cache.semantic.tokenstore import TokenStore
from lockgate.cache.semantic.verifier import load_verifier
from lockgate.services import build_services
from lockgate.settings import settings_from_mapping

NOW = 1_800_000_000.0
SHORT = "How do I change my account password?"
LONG = " ".join(["Please explain how the gateway's rate limiter counts tokens per tenant"] * 4)


class CountingExecutor(ThreadPoolExecutor):
    """The loop's default executor, counting what is handed to a worker thread."""

    def __init__(self) -> None:
        super().__init__(max_workers=2)
        self.submitted = 0

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.submitted += 1
        return super().submit(fn, *args, **kwargs)


async def _hops(embedder: LocalEmbedder, texts: list[str]) -> tuple[int, int]:
    executor = CountingExecutor()
    asyncio.get_running_loop().set_default_executor(executor)
    await embedder.embed_tokens(texts)
    tokens = executor.submitted
    await embedder.embed(texts)
    return tokens, executor.submitted - tokens


def test_short_texts_are_embedded_without_a_thread_hop(local_embedder: LocalEmbedder) -> None:
    """Up to ``inline_tokens`` tokens (summed over the call) the forward pass runs on the
    caller's thread; longer calls, or ``inline_tokens=0``, go to a worker thread. The
    vectors are the same either way."""
    saved = local_embedder.inline_tokens
    try:
        local_embedder.inline_tokens = 32
        assert asyncio.run(_hops(local_embedder, [SHORT])) == (0, 0)
        assert asyncio.run(_hops(local_embedder, [LONG])) == (1, 1)
        assert asyncio.run(_hops(local_embedder, [SHORT] * 4)) == (1, 1)  # 4 x 11 > 32
        inline = asyncio.run(local_embedder.embed_tokens([SHORT]))[0]
        local_embedder.inline_tokens = 0
        assert asyncio.run(_hops(local_embedder, [SHORT])) == (1, 1)
        threaded = asyncio.run(local_embedder.embed_tokens([SHORT]))[0]
    finally:
        local_embedder.inline_tokens = saved
    assert np.array_equal(inline.sentence, threaded.sentence)
    assert np.array_equal(inline.tokens, threaded.tokens)


def test_kept_token_vectors_round_trip_through_bytes() -> None:
    """``to_bytes`` / ``put_bytes`` carry exactly what the store keeps; a malformed blob
    is refused, not half-read."""
    rng = np.random.default_rng(8)
    tokens = rng.standard_normal((13, 384)).astype(np.float32)
    tokens /= np.linalg.norm(tokens, axis=1, keepdims=True)
    sentence = tokens.mean(axis=0) / np.linalg.norm(tokens.mean(axis=0))
    here, there = TokenStore(1 << 20), TokenStore(1 << 20)
    here.put("q", TokenVectors(sentence.astype(np.float32), tokens))
    blob = here.to_bytes("q")
    assert blob is not None and len(blob) == 388 * 13 + 772
    assert here.to_bytes("unknown") is None
    there.put_bytes("q", blob)
    a, b = here.get("q"), there.get("q")
    assert a is not None and b is not None
    assert np.array_equal(a.tokens, b.tokens) and np.array_equal(a.sentence, b.sentence)
    assert there.nbytes == here.nbytes
    for bad in (blob[:3], blob[:-1], blob + b"\0", b"\0\0\0\0"):
        with pytest.raises(ValueError):
            there.put_bytes("bad", bad)
    assert "bad" not in there


async def test_another_replicas_entry_is_verified_without_a_forward_pass(
    local_embedder: LocalEmbedder, redis_url: str
) -> None:
    """Replica A stores a near copy with its token vectors; replica B, looking up a near
    copy of it, embeds only its own question. Without sharing, B embeds A's text too."""
    stored = SemanticQuery("p", SHORT)
    query = SemanticQuery("p", "How can I change my account password?")
    for share, expected in ((12 << 10, [query.text]), (0, [query.text, SHORT])):
        indexes = [RedisIndex.from_url(redis_url, local_embedder.dim, prefix=f"t{share}")]
        indexes.append(RedisIndex.from_url(redis_url, local_embedder.dim, prefix=f"t{share}"))
        a_emb, b_emb = CountingEmbedder(local_embedder), CountingEmbedder(local_embedder)
        a, b = (
            SemanticCache(emb, index, SemanticSettings(), load_verifier(), share_token_bytes=share)
            for emb, index in zip((a_emb, b_emb), indexes, strict=True)
        )
        try:
            miss = await a.lookup(stored, now=NOW)
            assert not miss.served
            await a.store(stored, b"the answer", now=NOW, vector=miss.vector)
            hit = await b.lookup(query, now=NOW)
            assert hit.served and hit.payload == b"the answer" and hit.probability is not None
            assert b_emb.texts == expected, share
        finally:
            for index in indexes:
                await index.close()


async def test_token_vectors_over_the_byte_bound_stay_home(
    local_embedder: LocalEmbedder, redis_url: str
) -> None:
    """A text whose vectors take more than ``share_token_bytes`` is stored without them:
    the other replica embeds it when it is a near-copy candidate."""
    indexes = [RedisIndex.from_url(redis_url, local_embedder.dim) for _ in range(2)]
    a_emb, b_emb = CountingEmbedder(local_embedder), CountingEmbedder(local_embedder)
    a = SemanticCache(a_emb, indexes[0], SemanticSettings(), load_verifier())
    b = SemanticCache(b_emb, indexes[1], SemanticSettings(), load_verifier())
    a.share_token_bytes = 388 * 5 + 772  # five tokens: "How do I ..." has more
    try:
        stored = SemanticQuery("p", SHORT)
        miss = await a.lookup(stored, now=NOW)
        await a.store(stored, b"x", now=NOW, vector=miss.vector)
        await b.lookup(SemanticQuery("p", "How can I change my account password?"), now=NOW)
        assert b_emb.texts == ["How can I change my account password?", SHORT]
        assert SHORT in b.tokens  # embedded there, kept for next time
    finally:
        for index in indexes:
            await index.close()


class SyncWatchingEmbedder(CountingEmbedder):
    """Records, as each embedding starts, whether Redis has received an XREAD (the
    index's sync) since the counters were reset."""

    def __init__(self, inner: LocalEmbedder, url: str) -> None:
        super().__init__(inner)
        self.url = url
        self.xread_before_embedding: list[bool] = []

    async def embed_tokens(self, texts):  # type: ignore[no-untyped-def]
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(self.url)
        try:
            seen = False
            for _ in range(50):  # bounded: the command was sent before this call, if at all
                stats = await client.info("commandstats")
                if stats.get("cmdstat_xread", {}).get("calls", 0) > 0:
                    seen = True
                    break
                await asyncio.sleep(0.02)
            self.xread_before_embedding.append(seen)
        finally:
            await client.aclose()
        return await super().embed_tokens(texts)


async def test_the_redis_sync_is_sent_before_the_question_is_embedded(
    local_embedder: LocalEmbedder, redis_url: str
) -> None:
    """A lookup through the Redis index sends its XREAD before embedding the question
    (the round trip overlaps the forward pass) and the search uses that sync: one XREAD
    per lookup, and another replica's entry is found."""
    import redis.asyncio as aioredis

    indexes = [RedisIndex.from_url(redis_url, local_embedder.dim) for _ in range(2)]
    a = SemanticCache(
        CountingEmbedder(local_embedder), indexes[0], SemanticSettings(), load_verifier()
    )
    watcher = SyncWatchingEmbedder(local_embedder, redis_url)
    b = SemanticCache(watcher, indexes[1], SemanticSettings(), load_verifier())
    admin = aioredis.Redis.from_url(redis_url)
    try:
        stored = SemanticQuery("p", SHORT)
        miss = await a.lookup(stored, now=NOW)  # A keeps its vectors; they go with the entry
        await a.store(stored, b"the answer", now=NOW, vector=miss.vector)
        await admin.config_resetstat()
        hit = await b.lookup(SemanticQuery("p", "How can I change my account password?"), now=NOW)
        assert hit.served and hit.payload == b"the answer"
        stats = await admin.info("commandstats")
        assert stats["cmdstat_xread"]["calls"] == 1
        assert watcher.xread_before_embedding == [True]
    finally:
        await admin.aclose()
        for index in indexes:
            await index.close()


async def test_a_sync_begun_for_a_failed_lookup_is_not_mistaken_for_a_later_one(
    local_embedder: LocalEmbedder, redis_url: str
) -> None:
    """A sync begun at one time and never searched (the lookup failed before its search)
    is awaited and replaced: the next search syncs again and sees newer entries."""
    writer = RedisIndex.from_url(redis_url, local_embedder.dim)
    reader = RedisIndex.from_url(redis_url, local_embedder.dim)
    vector = (await local_embedder.embed([SHORT]))[0]
    try:
        reader.begin_sync(now=NOW)
        await asyncio.sleep(0.05)
        await writer.add("p", vector, SHORT, b"x", now=NOW, ttl=60)
        found = await reader.search("p", vector, k=1, now=NOW + 1)
        assert [c.text for c in found] == [SHORT]
    finally:
        await writer.close()
        await reader.close()


async def test_served_questions_do_not_evict_the_entries_vectors(
    local_embedder: LocalEmbedder,
) -> None:
    """Only entries' vectors fill the byte-bounded store: looked-up questions wait in a
    small side store until their answer is stored, so a store sized for one entry keeps
    that entry warm however many near copies of it are asked, and a stored miss moves its
    vectors over."""
    from lockgate.cache.semantic.index import MemoryIndex
    from lockgate.cache.semantic.tokenstore import entry_bytes

    emb = CountingEmbedder(local_embedder)
    cache = SemanticCache(
        emb, MemoryIndex(emb.dim), SemanticSettings(), load_verifier(), token_cache_bytes=1
    )
    stored = SemanticQuery("p", SHORT)
    miss = await cache.lookup(stored, now=NOW)
    assert SHORT in cache.recent and SHORT not in cache.tokens
    await cache.store(stored, b"the answer", now=NOW, vector=miss.vector)
    assert SHORT in cache.tokens and SHORT not in cache.recent
    cache.tokens.max_bytes = entry_bytes(11)  # room for this one entry only
    asked = [
        "How can I change my account password?",
        "How do I change my account's password?",
        "How do I change my account password now?",
    ]
    for text in asked:
        looked = await cache.lookup(SemanticQuery("p", text), now=NOW)
        assert looked.probability is not None  # the model judged the entry: its vectors
        assert text in cache.recent and text not in cache.tokens
    assert emb.texts == [SHORT, *asked]  # the entry was never embedded again
    assert list(cache.tokens._entries) == [SHORT]


def test_a_busy_worker_embeds_in_a_thread_even_short_texts(local_embedder: LocalEmbedder) -> None:
    """With ``inline_max_in_flight``, a short text is embedded on the loop only while the
    worker handles at most that many requests; beyond, a worker thread (the loop keeps
    serving the others). Without a count (``in_flight`` unset) the token bound decides."""
    saved = (local_embedder.inline_tokens, local_embedder.inline_max_in_flight)
    saved_count = local_embedder.in_flight
    requests = [1]
    try:
        local_embedder.inline_tokens, local_embedder.inline_max_in_flight = 32, 1
        local_embedder.in_flight = None
        assert asyncio.run(_hops(local_embedder, [SHORT])) == (0, 0)
        cache = SemanticCache(local_embedder, MemoryIndex(local_embedder.dim), SemanticSettings())
        cache.watch_load(lambda: requests[0])
        assert asyncio.run(_hops(local_embedder, [SHORT])) == (0, 0)
        requests[0] = 2
        assert asyncio.run(_hops(local_embedder, [SHORT])) == (1, 1)
        local_embedder.inline_max_in_flight = 0  # inline whatever the load
        assert asyncio.run(_hops(local_embedder, [SHORT])) == (0, 0)
        assert asyncio.run(_hops(local_embedder, [LONG])) == (1, 1)
    finally:
        local_embedder.inline_tokens, local_embedder.inline_max_in_flight = saved
        local_embedder.in_flight = saved_count


async def test_the_gateway_tells_its_embedder_how_busy_the_worker_is(tmp_path: Path) -> None:
    """``build_services`` hands the local embedder the worker's count of requests in
    flight, which is what decides between the loop and a worker thread."""
    settings = settings_from_mapping(
        {
            "model_list": [
                {
                    "model_name": "gpt-4o-mini",
                    "params": {"model": "openai/gpt-4o-mini", "api_base": "http://127.0.0.1:9/v1"},
                }
            ],
            "general_settings": {
                "database_url": f"sqlite+aiosqlite:///{tmp_path}/gw.db",
                "master_key": MASTER,
            },
            "semantic_cache": {"aliases": {"gpt-4o-mini": {}}, "inline_max_in_flight": 2},
        },
        env={},
    )
    svc = await build_services(settings)
    try:
        assert svc.semantic is not None
        embedder = svc.semantic.cache.embedder
        assert isinstance(embedder, LocalEmbedder) and embedder.in_flight is not None
        assert embedder.inline_max_in_flight == 2
        assert embedder.in_flight() == 0
        svc.metrics.request_started()
        svc.metrics.request_started()
        assert embedder.in_flight() == 2
        svc.metrics.request_finished()
        assert embedder.in_flight() == 1
        svc.metrics.request_finished()
    finally:
        await svc.aclose()
