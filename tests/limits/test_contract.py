"""One contract, run against every limit store: memory and real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from tests.limits.clock import Clock

from lockgate.errors import BudgetExceededError, RateLimitError
from lockgate.limits import (
    BudgetRejectedError,
    Limiter,
    LimitRejectedError,
    LimitRule,
    LimitStore,
    Reservation,
    create_limit_store,
    rate_limit_headers,
)

# 2026-11-27 12:00:00 UTC: twelve hours left in the day.
NOON = 1_795_780_800.0


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[LimitStore]:
    """A fresh store of each backend (Redis flushed)."""
    url = "memory://" if request.param == "memory" else request.getfixturevalue("redis_url")
    made = create_limit_store(url, failure_mode="fail_closed", timeout=2.0)
    yield made
    await made.aclose()


async def admitted(limiter: Limiter, rules: list[LimitRule], n: int, **usage: float) -> int:
    """How many of ``n`` concurrent reserves are admitted."""

    async def one() -> bool:
        try:
            await limiter.reserve(rules, **usage)  # type: ignore[arg-type]
        except RateLimitError:
            return False
        return True

    return sum(await asyncio.gather(*(one() for _ in range(n))))


class TestLimitStoreContract:
    """Behaviour every backend must share exactly."""

    async def test_exact_admissions_under_concurrency(self, store: LimitStore) -> None:
        """200 concurrent reserves against 50/minute admit exactly 50."""
        limiter = Limiter(store, Clock())
        assert await admitted(limiter, [LimitRule.requests("key:a", "50/minute")], 200) == 50

    async def test_no_rules_admit_without_state(self, store: LimitStore) -> None:
        """A request with no applicable rules is admitted and reports no limits."""
        reservation = await Limiter(store, Clock()).reserve([], tokens=10, cost=1.0)
        assert reservation.decision.allowed
        assert reservation.states == ()

    async def test_duplicate_rules_count_once(self, store: LimitStore) -> None:
        """The same rule listed twice (e.g. key and team resolving alike) takes once."""
        limiter = Limiter(store, Clock())
        rule = LimitRule.requests("key:a", "4/minute")
        assert await admitted(limiter, [rule, LimitRule.requests("key:a", "4/minute")], 9) == 4

    async def test_all_or_nothing_across_rules(self, store: LimitStore) -> None:
        """When one rule rejects, no other rule of the request is consumed."""
        limiter = Limiter(store, Clock())
        key = LimitRule.requests("key:a", "10/minute")
        team = LimitRule.requests("team:t", "3/minute")
        tokens = LimitRule.tokens("user:u", "100/minute")
        assert await admitted(limiter, [key, team], 8) == 3
        assert await admitted(limiter, [key, tokens], 5, tokens=60) == 1
        # key took 3 + 1; the 4 rejected by team or tokens left it untouched.
        assert await admitted(limiter, [key], 10) == 6

    async def test_rejection_names_the_limit_and_the_wait(self, store: LimitStore) -> None:
        """A 429 says which limit rejected and when to retry, and carries header states."""
        limiter = Limiter(store, Clock())
        rules = [LimitRule.requests("key:team-a", "100/hour"), LimitRule.requests("ip:1", "5/hour")]
        for _ in range(100):
            try:
                await limiter.reserve(rules[:1])
            except RateLimitError:
                pytest.fail("admitted fewer than the limit")
        with pytest.raises(LimitRejectedError) as caught:
            await limiter.reserve(rules)
        error = caught.value
        assert error.status == 429
        assert error.retry_after == pytest.approx(36.0)
        assert error.message == (
            "Rate limit exceeded for key 'team-a': 100/hour requests; retry after 36 s"
        )
        assert error.decision.rejected == rules[0]
        remaining = {s.rule.subject: s.remaining for s in error.decision.states}
        assert remaining == {"key:team-a": 0.0, "ip:1": 5.0}
        assert rate_limit_headers(error.decision.states)["x-ratelimit-remaining-requests"] == "0"

    async def test_window_rolls_over_with_the_clock(self, store: LimitStore) -> None:
        """A full 60/minute limit frees one request per second and all of them after a minute."""
        clock = Clock()
        limiter = Limiter(store, clock)
        rules = [LimitRule.requests("key:a", "60/minute")]
        assert await admitted(limiter, rules, 70) == 60
        clock.advance(0.5)
        assert await admitted(limiter, rules, 5) == 0
        clock.advance(0.5)
        assert await admitted(limiter, rules, 5) == 1
        clock.advance(60)
        assert await admitted(limiter, rules, 70) == 60

    async def test_states_report_remaining_and_reset(self, store: LimitStore) -> None:
        """An admitted request reports remaining units and seconds to a full reset."""
        limiter = Limiter(store, Clock())
        rules = [LimitRule.requests("key:a", "10/minute"), LimitRule.tokens("key:a", "1000/minute")]
        await limiter.reserve(rules, tokens=100)
        reservation = await limiter.reserve(rules, tokens=150)
        assert [(s.remaining, s.reset) for s in reservation.states] == [
            pytest.approx((8.0, 12.0)),
            pytest.approx((750.0, 15.0)),
        ]
        assert rate_limit_headers(reservation.states) == {
            "x-ratelimit-limit-requests": "10",
            "x-ratelimit-remaining-requests": "8",
            "x-ratelimit-reset-requests": "12s",
            "x-ratelimit-limit-tokens": "1000",
            "x-ratelimit-remaining-tokens": "750",
            "x-ratelimit-reset-tokens": "15s",
        }

    async def test_tokens_reserve_then_reconcile(self, store: LimitStore) -> None:
        """The estimate is taken up front; reconcile refunds or charges the difference."""
        limiter = Limiter(store, Clock())
        rules = [LimitRule.tokens("key:a", "1000/minute")]
        first = await limiter.reserve(rules, tokens=600)
        assert first.states[0].remaining == 400
        assert await admitted(limiter, rules, 1, tokens=500) == 0
        await limiter.reconcile(first, tokens=100, cost=0.0)
        await limiter.reconcile(first, tokens=999, cost=0.0)  # a second reconcile changes nothing
        second = await limiter.reserve(rules, tokens=850)
        assert second.states[0].remaining == pytest.approx(50)
        await limiter.reconcile(second, tokens=900, cost=0.0)  # used more than estimated
        assert await admitted(limiter, rules, 1, tokens=1) == 0
        assert await admitted(limiter, rules, 1) == 0  # no tokens left, even for no estimate

    async def test_tokens_beyond_the_limit_can_never_fit(self, store: LimitStore) -> None:
        """An estimate above the whole limit is rejected with a message saying so."""
        limiter = Limiter(store, Clock())
        with pytest.raises(LimitRejectedError) as caught:
            await limiter.reserve([LimitRule.tokens("model:m", "1000/minute")], tokens=1500)
        assert caught.value.message.startswith("Request needs 1500 tokens, more than the limit")
        assert caught.value.retry_after == 60

    async def test_budget_exceeded_after_actual_costs(self, store: LimitStore) -> None:
        """Actual costs add up until the budget is spent; the next UTC day starts afresh."""
        clock = Clock(NOON)
        limiter = Limiter(store, clock)
        rules = [LimitRule.spend("team:t", 1.0, "day")]
        for _ in range(3):
            reservation = await limiter.reserve(rules)
            await limiter.finish(reservation, tokens=0, cost=0.4)
        with pytest.raises(BudgetRejectedError) as caught:
            await limiter.reserve(rules)
        assert isinstance(caught.value, BudgetExceededError)
        assert caught.value.code == "budget_exceeded"
        assert caught.value.retry_after == pytest.approx(12 * 3600)
        assert caught.value.message == (
            "Budget exceeded for team 't': $1.00/day spend; resets in 43200 s"
        )
        clock.advance(12 * 3600)
        await limiter.reserve(rules)

    async def test_budget_reserves_an_estimate(self, store: LimitStore) -> None:
        """An estimated cost is held until reconciled, so parallel calls cannot overspend."""
        limiter = Limiter(store, Clock(NOON))
        rules = [LimitRule.spend("key:a", 1.0, "month")]
        assert await admitted(limiter, rules, 10, cost=0.3) == 3
        held = await limiter.reserve(rules, cost=0.1)
        await limiter.reconcile(held, tokens=0, cost=0.0)
        assert await admitted(limiter, rules, 2, cost=0.1) == 1

    async def test_concurrency_slots_come_back_on_release(self, store: LimitStore) -> None:
        """Slots are taken per request and given back once, however often release is called."""
        limiter = Limiter(store, Clock())
        rules = [LimitRule.concurrent("key:a", 2)]
        first = await limiter.reserve(rules)
        await limiter.reserve(rules)
        with pytest.raises(LimitRejectedError, match="Concurrency limit exceeded for key 'a'"):
            await limiter.reserve(rules)
        await limiter.release(first)
        await limiter.release(first)
        await limiter.finish(first, tokens=0, cost=0.0)
        assert await admitted(limiter, rules, 3) == 1

    async def test_leases_of_dead_holders_expire(self, store: LimitStore) -> None:
        """A slot never released comes back after the lease; renew keeps it taken longer."""
        clock = Clock()
        limiter = Limiter(store, clock, lease_ttl=30)
        rules = [LimitRule.concurrent("key:a", 1)]
        held: Reservation = await limiter.reserve(rules)
        clock.advance(20)
        assert await admitted(limiter, rules, 1) == 0
        assert await limiter.renew(held)
        clock.advance(20)
        assert await admitted(limiter, rules, 1) == 0
        clock.advance(11)
        assert await admitted(limiter, rules, 2) == 1

    async def test_request_with_every_kind_of_limit(self, store: LimitStore) -> None:
        """A realistic rule set reserves, finishes, and leaves consistent state behind."""
        limiter = Limiter(store, Clock(NOON))
        rules = [
            LimitRule.requests("key:a", "3/minute"),
            LimitRule.tokens("key:a", "10000/minute"),
            LimitRule.concurrent("key:a", 5),
            LimitRule.requests("user:u", "100/minute"),
            LimitRule.spend("team:t", 10.0, "month"),
            LimitRule.requests("model:m", "1000/minute"),
        ]
        for _ in range(3):
            reservation = await limiter.reserve(rules, tokens=3000, cost=0.5)
            await limiter.finish(reservation, tokens=1000, cost=0.25)
        with pytest.raises(LimitRejectedError) as caught:
            await limiter.reserve(rules, tokens=3000, cost=0.5)
        states = {(s.rule.subject, s.rule.kind): s.remaining for s in caught.value.decision.states}
        assert states == pytest.approx(
            {
                ("key:a", "requests"): 0,
                ("key:a", "tokens"): 7000,
                ("key:a", "concurrent"): 5,
                ("user:u", "requests"): 97,
                ("team:t", "spend"): 9.25,
                ("model:m", "requests"): 997,
            }
        )
