"""One contract for every CacheStore backend, plus backend-specific behaviour."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from tests.cache.cache_samples import ManualClock, text_completion

from lockgate.cache import (
    CacheStore,
    CacheStoreError,
    MemoryStore,
    ResponseCache,
    create_cache_store,
)
from lockgate.cache.redis import RedisStore
from lockgate.chat import ChatRequest, ChatResponse


class StoreHarness:
    """A store plus a way to make time pass for it."""

    def __init__(self, store: CacheStore, clock: ManualClock | None) -> None:
        self.store = store
        self.clock = clock

    async def expire(self, key: str) -> None:
        """Let a 50 ms TTL run out: move the clock, or wait (bounded) for Redis."""
        if self.clock is not None:
            self.clock.advance(0.051)
            return
        for _ in range(250):  # at most ~5 s
            if await self.store.get(key) is None:
                return
            await asyncio.sleep(0.02)


@pytest.fixture(params=["memory", "redis"])
async def harness(
    request: pytest.FixtureRequest, clock: ManualClock
) -> AsyncIterator[StoreHarness]:
    """Each contract test runs against the memory store and a real Redis."""
    if request.param == "memory":
        store = create_cache_store("memory://?max_bytes=16777216", clock=clock)
        yield StoreHarness(store, clock)
        await store.aclose()
    else:
        url = request.getfixturevalue("redis_url")
        # the contract, not the latency: the production default (0.25 s per operation, a
        # cache that fails fast) timed out a 4 MiB round trip on a loaded 2-core box
        sep = "&" if "?" in url else "?"
        store = create_cache_store(f"{url}{sep}socket_timeout=10", clock=time.monotonic)
        try:
            yield StoreHarness(store, None)
        finally:
            await store.aclose()


class TestStoreContract:
    """Behaviour every backend must share."""

    async def test_missing_key_is_none(self, harness: StoreHarness) -> None:
        """An absent key reads as None."""
        assert await harness.store.get("nope") is None

    async def test_set_then_get(self, harness: StoreHarness) -> None:
        """A stored value reads back byte for byte."""
        await harness.store.set("k", b"\x00value\xff", 60)
        assert await harness.store.get("k") == b"\x00value\xff"

    async def test_overwrite(self, harness: StoreHarness) -> None:
        """A second set replaces the first value."""
        await harness.store.set("k", b"one", 60)
        await harness.store.set("k", b"two", 60)
        assert await harness.store.get("k") == b"two"

    async def test_delete(self, harness: StoreHarness) -> None:
        """Deleted keys are gone; deleting an absent key is fine."""
        await harness.store.set("k", b"v", 60)
        await harness.store.delete("k")
        await harness.store.delete("never-there")
        assert await harness.store.get("k") is None

    async def test_ttl_expiry(self, harness: StoreHarness) -> None:
        """An entry disappears after its TTL while a longer-lived one stays."""
        await harness.store.set("short", b"s", 0.05)
        await harness.store.set("long", b"l", 60)
        assert await harness.store.get("short") == b"s"
        await harness.expire("short")
        assert await harness.store.get("short") is None
        assert await harness.store.get("long") == b"l"

    async def test_add_only_if_absent(self, harness: StoreHarness) -> None:
        """add() stores only when the key is absent or expired."""
        assert await harness.store.add("claim", b"a", 0.05)
        assert not await harness.store.add("claim", b"b", 60)
        assert await harness.store.get("claim") == b"a"
        await harness.expire("claim")
        assert await harness.store.add("claim", b"c", 60)
        assert await harness.store.get("claim") == b"c"

    async def test_zero_ttl_is_not_stored(self, harness: StoreHarness) -> None:
        """A TTL of zero stores nothing."""
        await harness.store.set("k", b"v", 0)
        assert await harness.store.get("k") is None

    async def test_large_value(self, harness: StoreHarness) -> None:
        """A 4 MiB value round-trips intact."""
        big = os.urandom(4 * 1024 * 1024)
        await harness.store.set("big", big, 60)
        assert await harness.store.get("big") == big

    async def test_keys_are_independent(self, harness: StoreHarness) -> None:
        """Many keys keep their own values."""
        for i in range(100):
            await harness.store.set(f"k{i}", str(i).encode(), 60)
        values = [await harness.store.get(f"k{i}") for i in range(100)]
        assert values == [str(i).encode() for i in range(100)]


class TestMemoryStore:
    """Byte bound and LRU order of the memory store."""

    async def test_byte_bound_evicts_least_recently_used(self, clock: ManualClock) -> None:
        """Going over max_bytes drops the coldest entries first."""
        store = MemoryStore(max_bytes=300, clock=clock)
        for name in ("a", "b", "c"):
            await store.set(name, b"x" * 99, 60)
        assert store.size_bytes == 300
        assert await store.get("a") is not None  # a is now the most recently used
        await store.set("d", b"x" * 99, 60)
        assert await store.get("b") is None
        assert await store.get("a") is not None
        assert await store.get("d") is not None
        assert store.size_bytes <= 300
        assert store.evictions == 1

    async def test_value_larger_than_bound_is_not_stored(self, clock: ManualClock) -> None:
        """An entry bigger than the whole store is refused and evicts nothing."""
        store = MemoryStore(max_bytes=100, clock=clock)
        await store.set("small", b"s", 60)
        await store.set("huge", b"x" * 200, 60)
        assert await store.get("huge") is None
        assert await store.get("small") == b"s"

    async def test_overwrite_keeps_byte_count_exact(self, clock: ManualClock) -> None:
        """Replacing and deleting entries keeps the byte count exact."""
        store = MemoryStore(max_bytes=1000, clock=clock)
        await store.set("k", b"x" * 100, 60)
        await store.set("k", b"x" * 10, 60)
        assert store.size_bytes == 11
        await store.delete("k")
        assert store.size_bytes == 0
        assert len(store) == 0

    async def test_expired_entry_frees_its_bytes(self, clock: ManualClock) -> None:
        """Reading an expired entry removes it and its bytes."""
        store = MemoryStore(max_bytes=1000, clock=clock)
        await store.set("k", b"x" * 100, 1)
        clock.advance(1)
        assert await store.get("k") is None
        assert store.size_bytes == 0

    def test_factory_rejects_unknown_scheme(self) -> None:
        """Only known URL schemes build a store."""
        with pytest.raises(ValueError, match="scheme"):
            create_cache_store("memcached://localhost")


class TestRedisStore:
    """Redis-specific behaviour: key prefix and degrading when Redis is down."""

    async def test_values_live_under_the_prefix(self, redis_url: str) -> None:
        """Keys are stored as lockgate:cache:v1:<key>."""
        store = create_cache_store(redis_url)
        raw = aioredis.Redis.from_url(redis_url)
        try:
            await store.set("abc", b"v", 60)
            assert await raw.get("lockgate:cache:v1:abc") == b"v"
            assert 0 < await raw.pttl("lockgate:cache:v1:abc") <= 60_000
        finally:
            await store.aclose()
            await raw.aclose()

    async def test_store_errors_raise_cache_store_error(
        self, own_redis, clock: ManualClock
    ) -> None:  # type: ignore[no-untyped-def]
        """With Redis stopped every call fails fast with CacheStoreError, then recovers."""
        store = RedisStore.from_url(own_redis.url, clock=clock, cooldown=1.0)
        try:
            await store.set("k", b"v", 60)
            own_redis.stop()
            async with asyncio.timeout(5):
                with pytest.raises(CacheStoreError):
                    await store.get("k")
                with pytest.raises(CacheStoreError, match="cooling down"):
                    await store.set("k", b"w", 60)
            own_redis.start()
            clock.advance(1.0)
            await store.set("k", b"back", 60)
            assert await store.get("k") == b"back"
        finally:
            await store.aclose()

    async def test_response_cache_degrades_to_a_miss(
        self, own_redis: Any, clock: ManualClock
    ) -> None:
        """A dead Redis turns lookups into misses and counts the errors; requests still work."""
        store = RedisStore.from_url(own_redis.url, clock=clock)
        cache = ResponseCache(store=store, wall_clock=clock)
        request = ChatRequest(
            model="m",
            body={"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 0},
        )
        plan = cache.plan(request, alias="m")
        calls = 0

        async def call() -> ChatResponse:
            nonlocal calls
            calls += 1
            return ChatResponse(text_completion())

        try:
            own_redis.stop()
            async with asyncio.timeout(5):
                response, result = await cache.complete(plan, call)
            assert response.text == "Hello there!"
            assert result.status == "miss"
            assert calls == 1
            assert cache.stats.store_errors == 2  # the failed read and the failed write
        finally:
            await store.aclose()
