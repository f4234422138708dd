"""The exact response cache as one service: plan, look up, coalesce, record.

``ResponseCache`` glues the pure parts (keys, policy, replay, aggregation) to a
``CacheStore`` and a ``Coalescer``.  A store failure is counted in
``stats.store_errors`` and treated as a miss (on read) or skipped (on write):
the cache can make a request faster, never make it fail.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lockgate.cache.aggregate import StreamAggregator
from lockgate.cache.coalesce import Coalescer
from lockgate.cache.entry import CacheEntry, decode_entry, encode_entry
from lockgate.cache.errors import CacheStoreError
from lockgate.cache.header import CacheStatus
from lockgate.cache.keys import cache_key
from lockgate.cache.policy import (
    AliasCachePolicy,
    CacheDecision,
    decide,
    request_control,
    storable_completion,
    strip_cache_field,
)
from lockgate.cache.remote_flight import RemoteFlights
from lockgate.cache.replay import replay_stream
from lockgate.cache.store import CacheStore
from lockgate.chat import ChatRequest, ChatResponse, ChatStream, usage_from_openai
from lockgate.errors import InternalError

__all__ = ["BYPASS", "CachePlan", "CacheResult", "CacheStats", "ResponseCache"]


@dataclass(frozen=True, slots=True)
class CachePlan:
    """What the cache will do for one request, decided before any I/O."""

    key: str
    decision: CacheDecision
    #: The body to send upstream: the client's body without lockgate's ``cache`` field.
    body: dict[str, Any]
    #: the tenant namespace: the store's owner of the entry (its fair share of the store)
    owner: str = ""


@dataclass(frozen=True, slots=True)
class CacheResult:
    status: CacheStatus
    #: Served by another request's upstream call (still a ``miss`` for the cache).
    coalesced: bool = False


#: the outcome of a request the cache neither reads nor writes
BYPASS = CacheResult("bypass")


@dataclass(slots=True)
class CacheStats:
    hits: int = 0
    misses: int = 0
    bypasses: int = 0
    writes: int = 0
    store_errors: int = 0


@dataclass(slots=True)
class ResponseCache:
    """Exact cache + coalescing for chat requests."""

    store: CacheStore
    wall_clock: Callable[[], float]
    coalescer: Coalescer | None = None
    policies: Mapping[str, AliasCachePolicy] = field(default_factory=dict)
    default_policy: AliasCachePolicy = field(default_factory=AliasCachePolicy)
    include_user: bool = False
    #: Coalesce non-streaming calls across replicas too (needs a shared store).
    remote: RemoteFlights | None = None
    stats: CacheStats = field(default_factory=CacheStats)

    def plan(
        self,
        request: ChatRequest,
        *,
        alias: str,
        namespace: str = "",
        header: str | None = None,
    ) -> CachePlan:
        """Decide read/write/TTL and compute the key; raises ``BadRequestError`` on bad controls."""
        body = request.body
        policy = self.policies.get(alias, self.default_policy)
        decision = decide(body, policy, request_control(header, body))
        upstream = strip_cache_field(body)
        key = ""
        if decision.read or decision.write:
            key = cache_key(
                upstream, model=alias, namespace=namespace, include_user=self.include_user
            )
        return CachePlan(key, decision, upstream, namespace)

    async def lookup(self, plan: CachePlan) -> dict[str, Any] | None:
        """The cached completion, or ``None`` (also when the store fails)."""
        if not plan.decision.read:
            return None
        try:
            raw = await self.store.get(plan.key)
            entry = decode_entry(raw) if raw is not None else None
        except CacheStoreError:
            self.stats.store_errors += 1
            return None
        if entry is None:
            return None
        return entry.completion

    async def save(self, plan: CachePlan, completion: dict[str, Any]) -> bool:
        """Store ``completion`` if the plan and the policy allow; ``False`` if not stored."""
        if not plan.decision.write or not storable_completion(completion):
            return False
        raw = encode_entry(CacheEntry(completion=completion, stored_at=self.wall_clock()))
        try:
            await self.store.set(plan.key, raw, plan.decision.ttl, plan.owner)
        except CacheStoreError:
            self.stats.store_errors += 1
            return False
        self.stats.writes += 1
        return True

    async def complete(
        self,
        plan: CachePlan,
        call: Callable[[], Awaitable[ChatResponse]],
        *,
        may_store: Callable[[], bool] | None = None,
    ) -> tuple[ChatResponse, CacheResult]:
        """Answer a non-streaming request from the cache, a shared call, or ``call()``.

        ``may_store`` is asked after ``call()`` returns; ``False`` keeps the answer out
        of the cache (e.g. it already came from the semantic cache).
        """
        decision = plan.decision
        if not (decision.read or decision.write):
            self.stats.bypasses += 1
            return await call(), BYPASS
        cached = await self.lookup(plan)
        if cached is not None:
            self.stats.hits += 1
            return ChatResponse(cached, usage_from_openai(cached.get("usage"))), CacheResult("hit")
        self.stats.misses += 1

        remote = self.remote if decision.coalesce else None
        from_other_replica = False

        async def fetch() -> ChatResponse:
            nonlocal from_other_replica
            leader = remote is None or await remote.claim(plan.key)
            if remote is not None and not leader:
                found = await remote.wait(plan.key, lambda: self.lookup(plan))
                if found is not None:
                    from_other_replica = True
                    return ChatResponse(found, usage_from_openai(found.get("usage")))
            try:
                response = await call()
                if may_store is None or may_store():
                    await self.save(plan, response.body)
            finally:
                if remote is not None and leader:
                    await remote.release(plan.key)
            return response

        if decision.coalesce and self.coalescer is not None:
            shared = self.coalescer.join_stream(plan.key)
            if shared is not None:
                # The same request is being streamed right now: assemble its chunks.
                return await _assemble(shared), CacheResult("miss", coalesced=True)
            response, follower = await self.coalescer.run(plan.key, fetch)
            return response, CacheResult("miss", coalesced=follower or from_other_replica)
        response = await fetch()
        return response, CacheResult("miss", coalesced=from_other_replica)

    async def stream(
        self,
        plan: CachePlan,
        start: Callable[[], ChatStream],
        *,
        may_store: Callable[[], bool] | None = None,
    ) -> tuple[ChatStream, CacheResult]:
        """Answer a streaming request: replay a hit, join a shared stream, or ``start()``.

        Pipeline streams always carry the usage chunk (providers ask upstream for
        it, the API edge drops it for clients that did not), so the stored entry has
        usage and a replay always ends with the usage chunk.
        """
        decision = plan.decision
        if not (decision.read or decision.write):
            self.stats.bypasses += 1
            return start(), BYPASS
        cached = await self.lookup(plan)
        if cached is not None:
            self.stats.hits += 1
            return replay_stream(cached, include_usage=True), CacheResult("hit")
        self.stats.misses += 1

        async def recorded() -> ChatStream:
            agg = StreamAggregator()
            async for chunk in start():
                agg.add(chunk)
                yield chunk
            # Only reached when the upstream stream ended cleanly.
            if agg.finished and (may_store is None or may_store()):
                await self.save(plan, agg.result())

        if decision.coalesce and self.coalescer is not None:
            if self.coalescer.has_call(plan.key):
                # The same request is being answered without streaming: wait, then replay.
                response, _ = await self.coalescer.run(plan.key, _never_called)
                return replay_stream(response.body, include_usage=True), CacheResult(
                    "miss", coalesced=True
                )
            shared, follower = self.coalescer.stream(plan.key, recorded)
            return shared, CacheResult("miss", coalesced=follower)
        return recorded(), CacheResult("miss")


async def _assemble(stream: ChatStream) -> ChatResponse:
    agg = StreamAggregator()
    async for chunk in stream:
        agg.add(chunk)
    completion = agg.result()
    return ChatResponse(completion, usage_from_openai(completion.get("usage")))


async def _never_called() -> ChatResponse:
    # has_call() was true and run() joins synchronously, so this never starts a call.
    raise InternalError("coalesced call vanished before it could be joined")
