"""Live false-hit tallies shared by every replica through the semantic index's Redis.

``LiveEstimator`` alone counts what one process verified: with N replicas each
needs its own wrong hit to tighten and its own 381 clean probes to loosen, and
each exports a different estimate of the same alias. With a Redis index the
tallies live in Redis instead, so the evidence of every replica adds up:

* ``{prefix}:live:a:{alias}`` and ``{prefix}:live:p:{len}:{alias}:{partition}``:
  one hash per tally (the fields of ``live.Tally`` and the alias's own budget).
  A verified hit or a probe updates it in a ``WATCH``/``MULTI`` transaction with
  the estimator's own rules (``count_hit`` / ``count_probe``), so two replicas
  counting at once never lose an outcome; partition tallies expire after
  ``partition_ttl`` without an outcome.
* ``{prefix}:live:s:{alias}``: each source's (tenant's) verified and wrong hits
  on the alias (field: the source, value: "verified wrong"), updated in the
  alias tally's transaction, so the alias's tightening can leave out the source
  with the most wrong hits (``live.count_alias_hit``) whichever replica counts.
* ``{prefix}:live:tight``: which tallies are tightened (field: the tally's key,
  value: its budget), so a replica learns another's tightening or loosening with
  one small read. ``{prefix}:live:aliases``: the aliases with a tally.

Each replica keeps reading its operating points from its own ``LiveEstimator``
(no Redis round trip on a lookup); a refresh every ``refresh_seconds``, started
by a lookup, copies the shared state into it. A change made by this replica
applies here at once, elsewhere within about ``refresh_seconds``.

Outcomes are counted off the client's path (verifications run in background
tasks); a Redis failure there is counted by the caller, which then counts the
outcome locally, as without Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from redis.exceptions import WatchError

from lockgate.cache.errors import CacheStoreError
from lockgate.cache.semantic.live import (
    LiveEstimator,
    SourceCount,
    Tally,
    count_alias_hit,
    count_hit,
    count_probe,
)
from lockgate.cache.semantic.verifier import OperatingPoint

if TYPE_CHECKING:
    import redis.asyncio as aioredis

__all__ = ["SharedTallies"]

_log = logging.getLogger("lockgate.semantic_cache")
_FLOATS = ("budget", "probe_level")
_TEXTS = ("top_source",)
_FIELDS = tuple(f.name for f in dataclasses.fields(Tally))


def _dump(tally: Tally, default: float) -> dict[Any, Any]:
    fields = {
        name: getattr(tally, name) if name in _TEXTS else repr(getattr(tally, name))
        for name in _FIELDS
    }
    fields["default"] = repr(default)
    return fields


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _load(raw: Mapping[Any, Any], default: float) -> tuple[Tally, float]:
    """The tally in ``raw`` (a fresh one at ``default`` when empty) and its alias's budget."""
    fields = {_text(k): _text(v) for k, v in raw.items()}
    tally = Tally(budget=default)
    for name in _FIELDS:
        value = fields.get(name)
        if value is None:
            continue
        if name in _TEXTS:
            setattr(tally, name, value)
        else:
            setattr(tally, name, float(value) if name in _FLOATS else int(value))
    stored = fields.get("default")
    return tally, float(stored) if stored is not None else default


def _copy(source: Tally, target: Tally) -> None:
    for name in _FIELDS:
        setattr(target, name, getattr(source, name))


class SharedTallies:
    """The tallies of ``estimator``, kept in Redis and shared by replicas."""

    def __init__(
        self,
        client: aioredis.Redis,
        estimator: LiveEstimator,
        *,
        prefix: str = "lockgate:sem",
        refresh_seconds: float = 1.0,
        partition_ttl: int = 7 * 86_400,
        attempts: int = 32,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis = client
        self.estimator = estimator
        self._prefix = f"{prefix}:live"
        self._tight = f"{self._prefix}:tight"
        self._aliases = f"{self._prefix}:aliases"
        self.refresh_seconds = refresh_seconds
        self.partition_ttl = partition_ttl
        self.attempts = attempts
        self._clock = clock
        self._next_refresh = float("-inf")
        self._refreshing: asyncio.Task[None] | None = None
        # one update at a time from this replica: transactions collide only across replicas
        self._updating = asyncio.Lock()
        #: refreshes that failed (Redis away); the estimator keeps its last state
        self.refresh_errors = 0

    def _alias_key(self, alias: str) -> str:
        return f"{self._prefix}:a:{alias}"

    def _sources_key(self, alias: str) -> str:
        return f"{self._prefix}:s:{alias}"

    def _partition_key(self, alias: str, partition: str) -> str:
        # the alias's length first: an alias holding ":" cannot collide with another
        return f"{self._prefix}:p:{len(alias)}:{alias}:{partition}"

    def _parse_partition(self, key: str) -> tuple[str, str] | None:
        head = f"{self._prefix}:p:"
        if not key.startswith(head):
            return None
        size, _, rest = key[len(head) :].partition(":")
        if not size.isdigit() or len(rest) <= int(size):
            return None
        return rest[: int(size)], rest[int(size) + 1 :]

    async def _update(
        self,
        key: str,
        default: float,
        count: Callable[[Tally], bool],
        *,
        ttl: int | None,
        source: tuple[str, str, SourceCount] | None = None,
    ) -> tuple[Tally, bool]:
        """Apply ``count`` to the tally at ``key`` in one optimistic transaction (retried,
        with a growing random pause, when another replica changed it meanwhile).
        ``source``: (hash, field, counts) of the counting source's own counts on an
        alias, read into ``counts`` before ``count`` runs and written with the tally
        (every write of them is inside a transaction watching ``key``)."""
        for attempt in range(self.attempts):
            if attempt:
                await asyncio.sleep(random.uniform(0.0, 0.001 * min(attempt, 10)))
            async with self._redis.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(key)
                    tally, stored_default = _load(await pipe.hgetall(key), default)
                    if source is not None:
                        raw = await pipe.hget(source[0], source[1])
                        verified, wrong = _text(raw).split() if raw else ("0", "0")
                        source[2].verified, source[2].wrong = int(verified), int(wrong)
                    changed = count(tally)
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.hset(key, mapping=_dump(tally, stored_default))
                    if source is not None:
                        own = source[2]
                        pipe.hset(source[0], source[1], f"{own.verified} {own.wrong}")
                    if ttl is not None:
                        pipe.expire(key, ttl)
                    if tally.budget < stored_default:
                        pipe.hset(self._tight, key, repr(tally.budget))
                    else:
                        pipe.hdel(self._tight, key)
                    await pipe.execute()
                    return tally, changed
                except WatchError:
                    continue
        raise CacheStoreError(f"live tally {key}: {self.attempts} concurrent updates in a row")

    async def record(
        self, alias: str, partition: str, budget: float, *, wrong: bool, source: str = ""
    ) -> bool:
        """``LiveEstimator.record`` on the shared tallies; True if it tightened something."""
        async with self._updating:
            await self._redis.sadd(self._aliases, alias)
            return await self._record(alias, partition, budget, wrong=wrong, source=source)

    async def _record(
        self, alias: str, partition: str, budget: float, *, wrong: bool, source: str
    ) -> bool:
        est = self.estimator
        own = est.source(alias, source)
        shared, changed = await self._update(
            self._alias_key(alias),
            budget,
            lambda t: count_alias_hit(
                t, own, source, budget, wrong=wrong, min_budget=est.min_budget
            ),
            ttl=None,
            source=(self._sources_key(alias), source, own),
        )
        _copy(shared, est.tally(alias, None, budget))
        shared, tightened = await self._update(
            self._partition_key(alias, partition),
            budget,
            lambda t: count_hit(t, budget, wrong=wrong, min_budget=est.min_budget),
            ttl=self.partition_ttl,
        )
        _copy(shared, est.tally(alias, partition, budget))
        return changed or tightened

    async def record_probe(
        self,
        alias: str,
        partition: str,
        budget: float,
        *,
        wrong: bool,
        probed: OperatingPoint | None = None,
    ) -> bool:
        """``LiveEstimator.record_probe`` on the shared tallies; True if it loosened."""
        async with self._updating:
            return await self._record_probe(alias, partition, budget, wrong=wrong, probed=probed)

    async def _record_probe(
        self,
        alias: str,
        partition: str,
        budget: float,
        *,
        wrong: bool,
        probed: OperatingPoint | None,
    ) -> bool:
        est = self.estimator
        level = est.probe_level(alias, partition, budget, probed)
        if level is None:
            return False
        alias_tally, partition_tally = est.known(alias, partition)
        changed = False
        for key, local, ttl in (
            (self._alias_key(alias), alias_tally, None),
            (self._partition_key(alias, partition), partition_tally, self.partition_ttl),
        ):
            if local is None or local.budget >= level:
                continue
            shared, loosened = await self._update(
                key, budget, lambda t: count_probe(t, level, budget, wrong=wrong), ttl=ttl
            )
            _copy(shared, local)
            changed |= loosened
        return changed

    def maybe_refresh(self) -> None:
        """Start a refresh if one is due and none runs (call on the event loop)."""
        now = self._clock()
        if now < self._next_refresh:
            return
        if self._refreshing is not None and not self._refreshing.done():
            return
        self._next_refresh = now + self.refresh_seconds
        self._refreshing = asyncio.get_running_loop().create_task(
            self._refresh_quietly(), name="lockgate-semantic-live-refresh"
        )

    async def _refresh_quietly(self) -> None:
        try:
            await self.refresh()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.refresh_errors += 1
            if self.refresh_errors == 1:
                _log.error("semantic cache: reading the shared live tallies failed", exc_info=exc)

    async def refresh(self) -> None:
        """Copy the shared tallies into the estimator: every alias's, every tightened
        partition's, and put back to their alias's budget the partitions loosened elsewhere."""
        est = self.estimator
        aliases = sorted(_text(a) for a in await self._redis.smembers(self._aliases))
        tight = [_text(k) for k in await self._redis.hkeys(self._tight)]
        partitions = [(k, self._parse_partition(k)) for k in tight]
        wanted = [self._alias_key(a) for a in aliases] + [k for k, p in partitions if p]
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in wanted:
                pipe.hgetall(key)
            rows: list[dict[Any, Any]] = await pipe.execute()
        by_key = dict(zip(wanted, rows, strict=True))
        for alias in aliases:
            raw = by_key[self._alias_key(alias)]
            if raw:
                shared, default = _load(raw, 0.0)
                _copy(shared, est.tally(alias, None, default))
        still_tight: set[tuple[str, str]] = set()
        gone: list[str] = []
        for key, parsed in partitions:
            raw = by_key.get(key, {})
            if parsed is None or not raw:
                gone.append(key)  # expired (or not ours): no longer tightened anywhere
                continue
            shared, default = _load(raw, 0.0)
            _copy(shared, est.tally(parsed[0], parsed[1], default))
            still_tight.add(parsed)
        for alias, partition, local in est.partitions():
            alias_budget = est.default_budget(alias)
            if (
                (alias, partition) in still_tight
                or alias_budget is None
                or local.budget >= alias_budget
            ):
                continue
            local.budget = alias_budget  # loosened (or expired) on another replica
            local.probed = local.probe_wrong = 0
        if gone:
            await self._redis.hdel(self._tight, *gone)

    async def aclose(self) -> None:
        if self._refreshing is not None:
            self._refreshing.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._refreshing
