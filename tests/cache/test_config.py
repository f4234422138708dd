"""The cache config section builds the right service."""

from __future__ import annotations

import pytest

from lockgate.cache import AliasCachePolicy, MemoryStore
from lockgate.cache.config import CacheSettings, build_response_cache
from lockgate.cache.redis import RedisStore


def test_defaults_build_a_memory_cache_with_coalescing() -> None:
    """No settings: a 64 MiB memory store, deterministic mode, in-process coalescing."""
    cache = build_response_cache(CacheSettings())
    assert isinstance(cache.store, MemoryStore)
    assert cache.store.max_bytes == 64 * 1024 * 1024
    assert cache.coalescer is not None
    assert cache.remote is None
    assert cache.default_policy == AliasCachePolicy()


def test_alias_overrides_inherit_unset_fields() -> None:
    """An alias override changes only what it names."""
    settings = CacheSettings.model_validate(
        {"ttl": 100, "max_ttl": 1000, "aliases": {"gpt-4o": {"mode": "always"}}}
    )
    policy = build_response_cache(settings).policies["gpt-4o"]
    assert policy == AliasCachePolicy(mode="always", ttl=100, max_ttl=1000)


async def test_cross_replica_needs_redis(redis_url: str) -> None:
    """cross_replica is refused on a memory store and wired on Redis."""
    with pytest.raises(ValueError, match="shared store"):
        build_response_cache(CacheSettings(cross_replica=True))
    cache = build_response_cache(CacheSettings(url=redis_url, cross_replica=True, coalesce=False))
    try:
        assert isinstance(cache.store, RedisStore)
        assert cache.remote is not None
        assert cache.coalescer is None
    finally:
        await cache.store.aclose()


def test_unknown_fields_are_rejected() -> None:
    """Typos in the section fail validation."""
    with pytest.raises(ValueError):
        CacheSettings.model_validate({"ttl_seconds": 5})
