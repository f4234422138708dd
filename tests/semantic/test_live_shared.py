"""SharedTallies: the live false-hit tallies of several replicas, added up in a real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from tests.conftest import RedisServer
from tests.semantic.test_live import _clean_probes_needed

from lockgate.cache.semantic.live import LiveEstimator
from lockgate.cache.semantic.live_shared import SharedTallies
from lockgate.cache.semantic.verifier import Verifier, load_verifier

BUDGET = 0.01


class Replicas:
    """Two replicas' estimators, each with its own Redis client on one server."""

    def __init__(self, url: str, verifier: Verifier) -> None:
        self.clients = [aioredis.Redis.from_url(url) for _ in range(2)]
        self.est = [LiveEstimator(verifier) for _ in range(2)]
        self.shared = [
            SharedTallies(c, e, prefix="t", refresh_seconds=0.0)
            for c, e in zip(self.clients, self.est, strict=True)
        ]

    async def close(self) -> None:
        for s, c in zip(self.shared, self.clients, strict=True):
            await s.aclose()
            await c.aclose()


@pytest.fixture()
def verifier() -> Verifier:
    return load_verifier()


@pytest.fixture()
async def two(redis_url: str, verifier: Verifier) -> AsyncIterator[Replicas]:
    replicas = Replicas(redis_url, verifier)
    try:
        yield replicas
    finally:
        await replicas.close()


async def test_a_tightening_on_one_replica_reaches_the_other(
    two: Replicas, verifier: Verifier
) -> None:
    """A wrong hit verified on A tightens A at once and B after B's refresh, with the
    same counts on both."""
    (a, b), (ea, eb) = two.shared, two.est
    assert await a.record("m", "p", BUDGET, wrong=True)
    assert ea.accept_threshold("m", "p", BUDGET) == verifier.operating_point(BUDGET / 2)
    assert eb.accept_threshold("m", "p", BUDGET) is None  # not refreshed yet
    await b.refresh()
    assert eb.accept_threshold("m", "p", BUDGET) == verifier.operating_point(BUDGET / 2)
    for est in (ea, eb):
        e = est.estimate("m")
        assert e is not None and (e.verified, e.wrong, e.tightenings) == (1, 1, 1)
        assert e.budget == BUDGET and e.effective_budget == BUDGET / 2


async def test_outcomes_of_both_replicas_add_up_without_a_lost_update(two: Replicas) -> None:
    """60 outcomes counted at once from both replicas (optimistic transactions that
    collide and retry): the shared tally holds all 60."""
    (a, b), (ea, eb) = two.shared, two.est
    await asyncio.gather(
        *(s.record("m", f"p{i % 3}", BUDGET, wrong=False) for i in range(30) for s in (a, b))
    )
    await a.refresh()
    await b.refresh()
    for est in (ea, eb):
        e = est.estimate("m")
        assert e is not None and (e.verified, e.wrong, e.tightenings) == (60, 0, 0)


async def test_evidence_split_over_replicas_tightens_as_one(two: Replicas) -> None:
    """One right hit on A, one wrong on B: the shared tally is 1 of 2 wrong, as one
    process would count it, and B's outcome is the one that tightens."""
    (a, b), (ea, eb) = two.shared, two.est
    assert not await a.record("m", "p", BUDGET, wrong=False)
    assert await b.record("m", "p", BUDGET, wrong=True)
    await a.refresh()
    for est in (ea, eb):
        e = est.estimate("m")
        assert e is not None and (e.verified, e.wrong, e.rate) == (2, 1, 0.5)


async def test_probes_of_both_replicas_loosen_together(two: Replicas, verifier: Verifier) -> None:
    """The clean comparisons a loosening needs (381 at 1%), made half on each replica:
    the last one loosens, and both serve at the alias's own point again."""
    (a, b), (ea, eb) = two.shared, two.est
    assert await a.record("m", "p", BUDGET, wrong=True)
    await b.refresh()
    probe = eb.probe_point("m", "p", BUDGET)
    assert probe == verifier.operating_point(BUDGET)
    needed = _clean_probes_needed(BUDGET)
    for i in range(needed - 1):
        s = (a, b)[i % 2]
        assert not await s.record_probe("m", "p", BUDGET, wrong=False, probed=probe)
    await a.refresh()
    e = ea.estimate("m")
    assert e is not None and e.probed == needed - 1  # both replicas' probes in one count
    assert await b.record_probe("m", "p", BUDGET, wrong=False, probed=probe)
    assert eb.accept_threshold("m", "p", BUDGET) is None
    assert ea.accept_threshold("m", "p", BUDGET) is not None  # until its refresh
    await a.refresh()
    assert ea.accept_threshold("m", "p", BUDGET) is None
    e = ea.estimate("m")
    assert e is not None and (e.tightenings, e.loosenings, e.probed) == (1, 1, 0)


async def test_a_partition_tightened_and_loosened_elsewhere(
    two: Replicas, verifier: Verifier
) -> None:
    """The alias stays fine; one partition tightens on A. B learns it, and when B's
    probes loosen it, A's refresh puts that partition back to the alias's budget."""
    (a, b), (ea, eb) = two.shared, two.est
    budget = 0.05
    for i in range(300):
        await a.record("m", f"good{i % 5}", budget, wrong=False)
    assert await a.record("m", "bad", budget, wrong=True)
    await b.refresh()
    assert eb.accept_threshold("m", "bad", budget) == verifier.operating_point(budget / 2)
    assert eb.accept_threshold("m", "good1", budget) is None
    for _ in range(_clean_probes_needed(budget)):
        await b.record_probe("m", "bad", budget, wrong=False)
    assert eb.accept_threshold("m", "bad", budget) is None
    assert ea.accept_threshold("m", "bad", budget) is not None
    await a.refresh()
    assert ea.accept_threshold("m", "bad", budget) is None


async def test_refresh_is_started_by_a_lookup_and_survives_redis_going_away(
    own_redis: RedisServer, verifier: Verifier
) -> None:
    """``maybe_refresh`` runs a refresh in the background; with Redis gone it counts
    the failure and the estimator keeps what it knew."""
    replicas = Replicas(own_redis.url, verifier)
    try:
        (a, b), (_, eb) = replicas.shared, replicas.est
        await a.record("m", "p", BUDGET, wrong=True)
        b.maybe_refresh()
        for _ in range(200):  # bounded: ~10 s
            if eb.estimate("m") is not None:
                break
            await asyncio.sleep(0.05)
        assert eb.accept_threshold("m", "p", BUDGET) == verifier.operating_point(BUDGET / 2)
        own_redis.stop()
        b.maybe_refresh()
        for _ in range(100):  # bounded: ~10 s
            if b.refresh_errors:
                break
            await asyncio.sleep(0.1)
        assert b.refresh_errors == 1
        assert eb.accept_threshold("m", "p", BUDGET) == verifier.operating_point(BUDGET / 2)
    finally:
        await replicas.close()


async def test_a_hostile_tenant_on_both_replicas_does_not_tighten_the_alias(
    two: Replicas, verifier: Verifier, redis_url: str
) -> None:
    """Mallory's wrong hits, verified half on each replica over three partitions of
    hers, close her partitions everywhere; Alice, verified before, keeps the alias's
    point on both replicas. Each tenant's counts are kept apart in Redis."""
    (a, b), (ea, eb) = two.shared, two.est
    for _ in range(10):
        await a.record("m", "alice", BUDGET, wrong=False, source="team:alice")
    for i in range(6):
        await (a, b)[i % 2].record(
            "m", f"mallory{i % 3}", BUDGET, wrong=True, source="team:mallory"
        )
    await a.refresh()
    await b.refresh()
    for est in (ea, eb):
        e = est.estimate("m")
        assert e is not None and (e.verified, e.wrong, e.tightenings) == (16, 6, 0)
        assert est.accept_threshold("m", "alice", BUDGET) is None
        assert est.accept_threshold("m", "mallory1", BUDGET) is not None
    client = aioredis.Redis.from_url(redis_url)
    try:
        counts = await client.hgetall("t:live:s:m")
    finally:
        await client.aclose()
    assert counts == {b"team:alice": b"10 0", b"team:mallory": b"6 6"}


async def test_wrong_hits_of_two_tenants_on_two_replicas_tighten_the_alias(
    two: Replicas, verifier: Verifier
) -> None:
    """Alice's wrong hit on A decides nothing for the others (hers is the evidence left
    out); Bob's on B then tightens the alias, with Alice's counts read from Redis, and A
    learns it on refresh."""
    (a, b), (ea, eb) = two.shared, two.est
    for i in range(20):
        await (a, b)[i % 2].record("m", "pa", BUDGET, wrong=False, source="team:alice")
        await (a, b)[i % 2].record("m", "pb", BUDGET, wrong=False, source="team:bob")
    await a.record("m", "pa", BUDGET, wrong=True, source="team:alice")
    e = ea.estimate("m")
    assert e is not None and e.tightenings == 0
    assert await b.record("m", "pb", BUDGET, wrong=True, source="team:bob")
    await a.refresh()
    for est in (ea, eb):
        e = est.estimate("m")
        assert e is not None and (e.verified, e.wrong, e.tightenings) == (42, 2, 1)
        assert est.accept_threshold("m", "pc", BUDGET) == verifier.operating_point(BUDGET / 2)


async def test_concurrent_outcomes_keep_every_tenants_count(two: Replicas, redis_url: str) -> None:
    """60 outcomes of three tenants at once from both replicas: each tenant's own
    count in Redis holds all of its outcomes (no lost update under collisions)."""
    a, b = two.shared
    await asyncio.gather(
        *(
            s.record("m", f"p{i % 3}", BUDGET, wrong=i % 5 == 0, source=f"team:t{i % 3}")
            for i in range(30)
            for s in (a, b)
        )
    )
    client = aioredis.Redis.from_url(redis_url)
    try:
        counts = await client.hgetall("t:live:s:m")
    finally:
        await client.aclose()
    parsed = {k.decode(): tuple(map(int, v.split())) for k, v in counts.items()}
    assert parsed == {
        f"team:t{t}": (20, 2 * sum(1 for i in range(30) if i % 3 == t and i % 5 == 0))
        for t in range(3)
    }
