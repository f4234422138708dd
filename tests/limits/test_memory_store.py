"""Memory-only behaviour: idle state is swept so per-IP limits cannot grow without bound."""

from __future__ import annotations

import pytest
from tests.limits.clock import Clock

from lockgate.errors import ServiceUnavailableError
from lockgate.limits import Limiter, LimitRejectedError, LimitRule, MemoryLimitStore


async def test_idle_state_is_swept() -> None:
    """Meters drained to zero and empty lease sets are forgotten; live ones are kept."""
    clock = Clock()
    store = MemoryLimitStore(sweep_every=10)
    limiter = Limiter(store, clock)
    for i in range(50):
        await limiter.release(
            await limiter.reserve(
                [LimitRule.requests(f"ip:{i}", "5/second"), LimitRule.concurrent(f"ip:{i}", 1)]
            )
        )
    live = LimitRule.requests("key:live", "2/hour")
    await limiter.reserve([live])
    clock.advance(10)
    for _ in range(10):
        await limiter.reserve([LimitRule.requests("key:other", "1000/second")])
    assert len(store._meters) <= 3
    assert not store._leases
    await limiter.reserve([live])
    assert (await limiter.reserve([LimitRule.requests("key:x", "1/second")])).states
    with pytest.raises(LimitRejectedError, match="2/hour requests"):
        await limiter.reserve([live])


async def test_a_full_store_refuses_new_callers_and_never_forgets_known_ones() -> None:
    """At ``max_entries`` a caller the store holds nothing for is refused (503), known
    callers stay limited; once entries drain, a forced sweep makes room (at most once a
    second, so a flood of new callers cannot make every request walk the whole store)."""
    clock = Clock()
    full: list[int] = []
    store = MemoryLimitStore(max_entries=20, on_full=lambda: full.append(1))
    limiter = Limiter(store, clock)
    for i in range(20):
        await limiter.reserve([LimitRule.requests(f"user:{i}", "1/hour")])
    with pytest.raises(ServiceUnavailableError) as refused:
        await limiter.reserve([LimitRule.requests("user:new", "1/hour")])
    assert refused.value.code == "limit_state_full" and refused.value.status == 503
    assert (store.refused, len(full), store.memory_sizes()) == (1, 1, [("limit_state", 20, 0)])
    for i in range(20):  # still exactly limited: nothing was evicted to make room
        with pytest.raises(LimitRejectedError):
            await limiter.reserve([LimitRule.requests(f"user:{i}", "1/hour")])
    clock.advance(1800)  # half drained: nothing to sweep yet
    with pytest.raises(ServiceUnavailableError):
        await limiter.reserve([LimitRule.requests("user:new", "1/hour")])
    clock.advance(1801)  # every meter drained
    assert (await limiter.reserve([LimitRule.requests("user:new", "1/hour")])).states
    assert store.memory_sizes() == [("limit_state", 1, 0)] and store.refused == 2


async def test_forced_sweeps_are_rate_limited() -> None:
    """Refusals within a second of a forced sweep do not sweep again; after it they do."""
    clock = Clock()
    store = MemoryLimitStore(max_entries=2)
    limiter = Limiter(store, clock)
    await limiter.reserve([LimitRule.requests("a", "1/second")])
    await limiter.reserve([LimitRule.requests("b", "1/hour")])
    clock.advance(0.5)
    with pytest.raises(ServiceUnavailableError):  # swept: "a" is half drained, kept
        await limiter.reserve([LimitRule.requests("c", "1/hour")])
    clock.advance(0.6)  # "a" drained, but the last forced sweep was 0.6 s ago
    with pytest.raises(ServiceUnavailableError):
        await limiter.reserve([LimitRule.requests("c", "1/hour")])
    clock.advance(0.5)
    assert (await limiter.reserve([LimitRule.requests("c", "1/hour")])).states
