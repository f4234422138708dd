"""Redis-only behaviour: shared exactness across clients, outages, script reloads, server time."""

from __future__ import annotations

import asyncio
import socket
from typing import TYPE_CHECKING

import pytest
import redis
from tests.limits.clock import Clock

from lockgate.errors import RateLimitError, ServiceUnavailableError
from lockgate.limits import (
    Limiter,
    LimitRule,
    RedisLimitStore,
    create_limit_store,
)

if TYPE_CHECKING:
    from tests.conftest import RedisServer


async def try_reserve(limiter: Limiter, rules: list[LimitRule]) -> bool:
    """Whether one reserve is admitted."""
    try:
        await limiter.reserve(rules)
    except RateLimitError:
        return False
    return True


async def test_three_limiters_share_one_limit_exactly(redis_url: str) -> None:
    """Three limiters with three Redis clients together admit exactly the limit."""
    clock = Clock()
    # 240 reserves at once wait for the pools' connections: a slow op or pool wait on a
    # loaded box would fail open (admit) and break the count, so the bounds are generous
    stores = [create_limit_store(redis_url, timeout=30.0, pool_timeout=30.0) for _ in range(3)]
    limiters = [Limiter(store, clock) for store in stores]
    rules = [LimitRule.requests("key:a", "50/minute"), LimitRule.tokens("key:a", "1000000/day")]
    try:
        results = await asyncio.gather(*(try_reserve(limiters[i % 3], rules) for i in range(240)))
        assert sum(results) == 50
        assert {i % 3 for i, ok in enumerate(results) if ok} == {0, 1, 2}
    finally:
        for store in stores:
            await store.aclose()


async def test_fail_open_admits_while_redis_is_down(own_redis: RedisServer) -> None:
    """Redis down: fail_open admits and says degraded; back up: real limits apply again."""
    clock = Clock()
    store = create_limit_store(own_redis.url, failure_mode="fail_open", timeout=0.1, cooldown=5)
    assert isinstance(store, RedisLimitStore)
    limiter = Limiter(store, clock)
    rules = [LimitRule.requests("key:a", "2/minute"), LimitRule.concurrent("key:a", 5)]
    try:
        assert not (await limiter.reserve(rules)).decision.degraded
        own_redis.stop()
        for _ in range(3):
            reservation = await limiter.reserve(rules)
            assert reservation.decision.degraded
            assert reservation.states == ()
        assert not store.healthy
        assert reservation.tokens == 0  # nothing was taken, so reconcile charges it all
        assert not await limiter.finish(reservation, tokens=10, cost=0.0)
        own_redis.start()
        clock.advance(1)  # still within the cooldown: Redis is not asked yet
        assert (await limiter.reserve(rules)).decision.degraded
        clock.advance(5)
        back = await limiter.reserve(rules)
        assert not back.decision.degraded
        assert back.states[0].remaining == 1  # the restarted Redis starts empty
        assert store.healthy
        await limiter.reserve(rules)
        with pytest.raises(RateLimitError):
            await limiter.reserve(rules)
    finally:
        await store.aclose()


async def test_fail_closed_refuses_while_redis_is_down(own_redis: RedisServer) -> None:
    """Redis down: fail_closed raises ServiceUnavailableError; back up: it admits again."""
    clock = Clock()
    store = create_limit_store(own_redis.url, failure_mode="fail_closed", timeout=0.1, cooldown=0)
    limiter = Limiter(store, clock)
    rules = [LimitRule.requests("key:a", "10/minute")]
    try:
        await limiter.reserve(rules)
        own_redis.stop()
        for _ in range(2):
            with pytest.raises(ServiceUnavailableError) as caught:
                await limiter.reserve(rules)
            assert caught.value.status == 503
        own_redis.start()
        reservation = await limiter.reserve(rules)
        assert reservation.states[0].remaining == 9  # the restarted Redis starts empty
    finally:
        await store.aclose()


async def test_script_is_reloaded_after_a_script_flush(redis_url: str) -> None:
    """A Redis that lost its script cache (restart, failover) gets the script again."""
    store = create_limit_store(redis_url, failure_mode="fail_closed", timeout=2.0)
    limiter = Limiter(store, Clock())
    rules = [LimitRule.requests("key:a", "3/minute")]
    admin = redis.Redis.from_url(redis_url)
    try:
        await limiter.reserve(rules)
        admin.script_flush()
        await limiter.reserve(rules)
        assert admin.info("commandstats")["cmdstat_eval"]["calls"] >= 2
        assert (await limiter.reserve(rules)).states[0].remaining == 0
    finally:
        admin.close()
        await store.aclose()


async def test_one_round_trip_per_reserve_and_finish(redis_url: str) -> None:
    """A reserve and a finish are one EVALSHA each, whatever the number of rules."""
    store = create_limit_store(redis_url, timeout=2.0)
    limiter = Limiter(store, Clock())
    rules = [
        LimitRule.requests("key:a", "100/minute"),
        LimitRule.tokens("key:a", "100000/minute"),
        LimitRule.concurrent("key:a", 10),
        LimitRule.requests("user:u", "100/minute"),
        LimitRule.spend("team:t", 100.0, "month"),
    ]
    admin = redis.Redis.from_url(redis_url)
    try:
        await limiter.finish(await limiter.reserve(rules, tokens=10), tokens=5, cost=0.1)
        admin.config_resetstat()
        for _ in range(5):
            reservation = await limiter.reserve(rules, tokens=100, cost=0.01)
            await limiter.finish(reservation, tokens=50, cost=0.02)
        stats = admin.info("commandstats")
        assert stats["cmdstat_evalsha"]["calls"] == 10
        # Commands run inside the script are counted too; the client sent only EVALSHA.
        assert "cmdstat_eval" not in stats
        assert "cmdstat_script|load" not in stats
    finally:
        admin.close()
        await store.aclose()


async def test_server_time_ignores_the_callers_clock(redis_url: str) -> None:
    """With server_time the window follows Redis TIME, so a jumping client clock frees nothing."""
    clock = Clock()
    store = create_limit_store(redis_url, server_time=True, timeout=2.0)
    limiter = Limiter(store, clock)
    rules = [LimitRule.requests("key:a", "2/hour")]
    try:
        assert await try_reserve(limiter, rules)
        assert await try_reserve(limiter, rules)
        clock.advance(7200)
        assert not await try_reserve(limiter, rules)
    finally:
        await store.aclose()


def test_unknown_store_url_is_refused() -> None:
    """Only memory:// and redis:// URLs make stores."""
    with pytest.raises(ValueError, match="unsupported limit store URL"):
        create_limit_store("postgres://db/limits")


async def test_a_redis_that_never_answers_costs_one_timeout(redis_url: str) -> None:
    """A server that accepts but never replies trips the socket timeout, not a hang."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    port = silent.getsockname()[1]
    store = create_limit_store(
        f"redis://127.0.0.1:{port}/0", failure_mode="fail_closed", timeout=0.05, cooldown=60
    )
    limiter = Limiter(store, Clock())
    try:
        async with asyncio.timeout(5):  # a failure here means the timeout did not bound the call
            with pytest.raises(ServiceUnavailableError):
                await limiter.reserve([LimitRule.requests("key:a", "5/minute")])
            with pytest.raises(ServiceUnavailableError):  # within the cooldown: no second wait
                await limiter.reserve([LimitRule.requests("key:a", "5/minute")])
    finally:
        await store.aclose()
        silent.close()


async def test_a_full_redis_counts_as_an_outage(own_redis: RedisServer) -> None:
    """A Redis refusing writes (maxmemory reached) triggers the failure policy, not a 500."""
    store = create_limit_store(own_redis.url, failure_mode="fail_closed", timeout=2.0, cooldown=0)
    limiter = Limiter(store, Clock())
    admin = redis.Redis.from_url(own_redis.url)
    rules = [LimitRule.requests("key:a", "5/minute")]
    try:
        await limiter.reserve(rules)
        admin.config_set("maxmemory-policy", "noeviction")
        admin.config_set("maxmemory", 1)
        with pytest.raises(ServiceUnavailableError):
            await limiter.reserve(rules)
        admin.config_set("maxmemory", 0)
        assert (await limiter.reserve(rules)).states[0].remaining == 3
    finally:
        admin.close()
        await store.aclose()
