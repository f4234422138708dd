"""The semantic cache end to end: real embedder, real indexes, real Redis."""

from __future__ import annotations

import pytest
from tests.semantic.fixed_vectors import table_embedder, unit

from lockgate.cache.semantic.embedder import LocalEmbedder
from lockgate.cache.semantic.index import MemoryIndex
from lockgate.cache.semantic.partition import SemanticQuery
from lockgate.cache.semantic.redis_index import RedisIndex
from lockgate.cache.semantic.semantic_cache import SemanticCache, SemanticSettings

NOW = 1_800_000_000.0
P = "partition-1"


def q(text: str, partition: str = P) -> SemanticQuery:
    """A query in the default partition."""
    return SemanticQuery(partition=partition, text=text)


def memory_cache(embedder: LocalEmbedder, **settings: object) -> SemanticCache:
    """A cache over a fresh memory index."""
    return SemanticCache(embedder, MemoryIndex(embedder.dim), SemanticSettings(**settings))  # type: ignore[arg-type]


async def test_paraphrase_is_served(local_embedder: LocalEmbedder) -> None:
    """An answer stored for one wording is served for a close paraphrase."""
    cache = memory_cache(local_embedder, threshold=0.8)
    first = await cache.lookup(q("How do I reset my password?"), now=NOW)
    assert not first.served and first.score == 0.0
    await cache.store(q("How do I reset my password?"), b"answer", now=NOW, vector=first.vector)
    hit = await cache.lookup(q("How can I reset my password?"), now=NOW + 1)
    assert hit.served and not hit.shadow
    assert hit.payload == b"answer"
    assert hit.matched_text == "How do I reset my password?"
    assert hit.score >= 0.8


@pytest.mark.parametrize(
    ("stored", "asked", "guard"),
    [
        ("What is 2+2?", "What is 2+3?", "numbers"),
        ("How do I enable X", "How do I disable X", "opposites"),
        ("Is it safe", "Is it not safe", "negation"),
    ],
)
async def test_near_misses_are_not_served(
    local_embedder: LocalEmbedder, stored: str, asked: str, guard: str
) -> None:
    """A near miss above the threshold is vetoed by its guard and reported as such."""
    cache = memory_cache(local_embedder, threshold=0.6)
    await cache.store(q(stored), b"wrong answer", now=NOW)
    result = await cache.lookup(q(asked), now=NOW)
    assert result.score >= 0.6
    assert not result.served
    assert result.payload is None
    assert result.rejected_by == guard


async def test_below_threshold_is_a_miss(local_embedder: LocalEmbedder) -> None:
    """An unrelated question is a miss with its (low) best score."""
    cache = memory_cache(local_embedder)
    await cache.store(q("How do I reset my password?"), b"a", now=NOW)
    result = await cache.lookup(q("What is the boiling point of water?"), now=NOW)
    assert not result.served and result.entry_id is None
    assert -0.5 < result.score < 0.5 and result.score != 0.0


async def test_guard_veto_falls_through_to_next_candidate(local_embedder: LocalEmbedder) -> None:
    """A vetoed best candidate does not hide a good second one."""
    cache = memory_cache(local_embedder, threshold=0.7)
    await cache.store(q("How do I disable logging in the app?"), b"disable", now=NOW)
    await cache.store(q("How can I enable logging in the app?"), b"enable", now=NOW)
    result = await cache.lookup(q("How do I enable logging in the app?"), now=NOW)
    assert result.served and result.payload == b"enable"


async def test_shadow_mode_never_serves(local_embedder: LocalEmbedder) -> None:
    """In shadow mode even an exact repeat is reported as a would-be hit, not served."""
    cache = memory_cache(local_embedder, shadow=True)
    await cache.store(q("How do I reset my password?"), b"answer", now=NOW)
    for text in ("How do I reset my password?", "How can I reset my password?", "Unrelated?"):
        result = await cache.lookup(q(text), now=NOW)
        assert not result.served and result.shadow
        assert result.payload is None
    exact = await cache.lookup(q("How do I reset my password?"), now=NOW)
    assert exact.would_hit and exact.score == pytest.approx(1.0, abs=1e-5)


async def test_settings_override_per_call(local_embedder: LocalEmbedder) -> None:
    """Per-alias settings passed to lookup replace the cache's defaults."""
    cache = memory_cache(local_embedder)
    await cache.store(q("How do I reset my password?"), b"a", now=NOW)
    shadow = SemanticSettings(shadow=True)
    assert not (
        await cache.lookup(q("How do I reset my password?"), now=NOW, settings=shadow)
    ).served
    assert (await cache.lookup(q("How do I reset my password?"), now=NOW)).served


async def test_partitions_do_not_share_answers(local_embedder: LocalEmbedder) -> None:
    """The same question in another partition (tenant, model, prompt) is a miss."""
    cache = memory_cache(local_embedder)
    await cache.store(q("How do I reset my password?", "tenant-a"), b"a", now=NOW)
    assert not (await cache.lookup(q("How do I reset my password?", "tenant-b"), now=NOW)).served


async def test_ttl_expires_answers(local_embedder: LocalEmbedder) -> None:
    """An answer is not served after the TTL of the settings it was stored under."""
    cache = memory_cache(local_embedder, ttl_seconds=30)
    await cache.store(q("How do I reset my password?"), b"a", now=NOW)
    assert (await cache.lookup(q("How do I reset my password?"), now=NOW + 29)).served
    assert not (await cache.lookup(q("How do I reset my password?"), now=NOW + 31)).served


async def test_exact_threshold_with_known_vectors() -> None:
    """A score equal to the threshold is a hit; just below is not."""
    embedder = table_embedder(
        {"stored": unit(1, 0), "close": unit(0.8, 0.6), "far": unit(0.79, 0.6131)}
    )
    cache = SemanticCache(embedder, MemoryIndex(2), SemanticSettings(threshold=0.8, guards=()))
    await cache.store(q("stored"), b"s", now=NOW)
    assert (await cache.lookup(q("close"), now=NOW)).served
    assert not (await cache.lookup(q("far"), now=NOW)).served


async def test_two_replicas_share_answers_through_redis(
    local_embedder: LocalEmbedder, redis_url: str
) -> None:
    """An answer stored through one replica is served by another through real Redis."""
    one = SemanticCache(
        local_embedder, RedisIndex.from_url(redis_url, local_embedder.dim), SemanticSettings()
    )
    two = SemanticCache(
        local_embedder, RedisIndex.from_url(redis_url, local_embedder.dim), SemanticSettings()
    )
    try:
        assert not (await two.lookup(q("How do I reset my password?"), now=NOW)).served
        await one.store(q("How do I reset my password?"), b"from one", now=NOW)
        hit = await two.lookup(q("How can I reset my password?"), now=NOW + 1)
        assert hit.served and hit.payload == b"from one"
        miss = await two.lookup(q("How do I reset my password?", "other"), now=NOW + 1)
        assert not miss.served
        near = await two.lookup(q("How can I not reset my password?"), now=NOW + 1)
        assert not near.served
    finally:
        await one.index.close()
        await two.index.close()


def test_settings_are_validated() -> None:
    """Impossible settings are refused when built."""
    with pytest.raises(ValueError, match="threshold"):
        SemanticSettings(threshold=1.5)
    with pytest.raises(ValueError, match="guards"):
        SemanticSettings(guards=("spelling",))
    with pytest.raises(ValueError, match="top_k"):
        SemanticSettings(top_k=0)
