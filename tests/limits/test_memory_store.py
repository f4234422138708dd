"""Memory-only behaviour: idle state is swept so per-IP limits cannot grow without bound."""

from __future__ import annotations

import pytest
from tests.limits.clock import Clock

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
