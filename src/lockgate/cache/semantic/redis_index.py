"""A vector index shared by several gateway replicas through plain Redis.

Redis has no vector search without the RediSearch module (Debian's
redis-server ships none), and fetching 100k vectors per lookup is far too slow,
so each replica keeps a local ``MemoryIndex`` *mirror* of the vectors and Redis
holds the shared truth:

* ``{prefix}:log`` - a stream of additions (partition, id, vector, text,
  expiry, and the text's token vectors for the verifier when the cache shares
  them: another replica's entry then costs no forward pass), trimmed to about
  ``capacity`` entries. A replica reads the entries it has not seen (``XREAD``
  from its last id) before searching, so an answer stored by one replica is
  found by every other on its next lookup. A new replica replays the stream to
  warm up.
* ``{prefix}:e:{id}`` - the payload, a plain string with the entry's TTL. The
  mirror only finds candidates; the payload is read from Redis, so an answer
  that expired or was evicted there is never served from a stale mirror.

Every Redis failure surfaces as ``lockgate.cache.CacheStoreError``, which the
caller treats as a miss, as the exact cache does.
Call ``sync`` once in the app's lifespan so the first request does not pay for
replaying the log (about 0.8 s per 10k entries).

``now`` must be wall-clock epoch seconds here: expiries travel between
replicas. ``sync_interval`` > 0 trades freshness for one round trip less per
lookup.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable
from typing import cast

import numpy as np
import numpy.typing as npt
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from lockgate.cache.errors import CacheStoreError
from lockgate.cache.semantic.index import Candidate, MemoryIndex

__all__ = ["RedisIndex"]

F32 = npt.NDArray[np.float32]
_READ_BATCH = 5_000
_log = logging.getLogger(__name__)


class RedisIndex:
    """``VectorIndex`` over Redis with a per-replica in-memory mirror."""

    def __init__(
        self,
        client: aioredis.Redis,
        dim: int,
        *,
        prefix: str = "lockgate:sem",
        capacity: int = 100_000,
        sync_interval: float = 0.0,
        offload_rows: int = 20_000,
        owns_client: bool = False,
    ) -> None:
        self._redis = client
        self.dim = dim
        self._prefix = prefix
        self._log = f"{prefix}:log"
        self.capacity = capacity
        self._sync_interval = sync_interval
        self._owns_client = owns_client
        self._mirror = MemoryIndex(dim, capacity=capacity, offload_rows=offload_rows)
        self._last_id = b"0-0"
        self._last_sync = float("-inf")
        # Entries dropped because Redis no longer had their payload, until they
        # would have expired anyway: a later replay of the log must not revive them.
        self._dropped: dict[str, float] = {}
        self._lock = asyncio.Lock()
        #: called with (text, token vectors) for each entry of another replica that
        #: carries them (the semantic cache's ``TokenStore.put_bytes``)
        self.tokens_received: Callable[[str, bytes], None] | None = None
        self._early: tuple[float, asyncio.Task[int]] | None = None

    @classmethod
    def from_url(
        cls,
        url: str,
        dim: int,
        *,
        prefix: str = "lockgate:sem",
        capacity: int = 100_000,
        sync_interval: float = 0.0,
        offload_rows: int = 20_000,
    ) -> RedisIndex:
        """An index with its own client; ``close`` closes it."""
        return cls(
            aioredis.Redis.from_url(url),
            dim,
            prefix=prefix,
            capacity=capacity,
            sync_interval=sync_interval,
            offload_rows=offload_rows,
            owns_client=True,
        )

    def __len__(self) -> int:
        return len(self._mirror)

    @property
    def client(self) -> aioredis.Redis:
        return self._redis

    @property
    def prefix(self) -> str:
        return self._prefix

    def _payload_key(self, entry_id: str) -> str:
        return f"{self._prefix}:e:{entry_id}"

    async def add(
        self,
        partition: str,
        vector: F32,
        text: str,
        payload: bytes,
        *,
        now: float,
        ttl: float,
        tokens: bytes | None = None,
    ) -> str:
        if vector.shape != (self.dim,):
            raise ValueError(f"vector must have shape ({self.dim},), got {vector.shape}")
        entry_id = secrets.token_hex(8)
        expires = now + ttl
        fields: dict[str, bytes | str] = {
            "p": partition,
            "i": entry_id,
            "v": np.ascontiguousarray(vector, dtype=np.float32).tobytes(),
            "t": text,
            "e": repr(expires),
        }
        if tokens is not None:
            fields["k"] = tokens
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.set(self._payload_key(entry_id), payload, px=max(1, int(ttl * 1000)))
                pipe.xadd(self._log, fields, maxlen=self.capacity, approximate=True)  # type: ignore[arg-type]
                await pipe.execute()
        except RedisError as exc:
            raise CacheStoreError(f"semantic cache store failed: {exc}") from exc
        # Known locally at once; the stream replay of the same id is idempotent.
        self._mirror.add_sync(
            partition, vector, text, b"", expires=expires, entry_id=entry_id, now=now
        )
        return entry_id

    async def sync(self, *, now: float) -> int:
        """Apply additions other replicas made since the last sync; return how many."""
        applied = 0
        async with self._lock:
            self._last_sync = now
            self._dropped = {k: e for k, e in self._dropped.items() if e > now}
            # Bounded: a stream holds about ``capacity`` entries.
            for _ in range(self.capacity // _READ_BATCH + 2):
                try:
                    raw = await self._redis.xread({self._log: self._last_id}, count=_READ_BATCH)
                except RedisError as exc:
                    raise CacheStoreError(f"semantic cache sync failed: {exc}") from exc
                reply = cast("list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes]]]]]", raw)
                if not reply:
                    break
                entries = reply[0][1]
                for stream_id, fields in entries:
                    self._last_id = stream_id
                    expires = float(fields[b"e"])
                    entry_id = fields[b"i"].decode()
                    if expires <= now or entry_id in self._mirror or entry_id in self._dropped:
                        continue
                    text = fields[b"t"].decode()
                    self._mirror.add_sync(
                        fields[b"p"].decode(),
                        np.frombuffer(fields[b"v"], dtype=np.float32),
                        text,
                        b"",
                        expires=expires,
                        entry_id=entry_id,
                        now=now,
                    )
                    applied += 1
                    tokens = fields.get(b"k")
                    if tokens is not None and self.tokens_received is not None:
                        try:
                            self.tokens_received(text, tokens)
                        except ValueError as exc:  # malformed: the entry stays, cold
                            _log.warning("semantic cache: token vectors of %s: %s", entry_id, exc)
                if len(entries) < _READ_BATCH:
                    break
        return applied

    def begin_sync(self, *, now: float) -> None:
        """Send the ``sync`` that a ``search`` at ``now`` would make, without waiting:
        its round trip then overlaps the caller's own work (embedding the question),
        and the ``search`` at the same ``now`` takes its result instead of asking again."""
        if self._early is None and now - self._last_sync >= self._sync_interval:
            self._early = (now, asyncio.get_running_loop().create_task(self.sync(now=now)))

    async def search(self, partition: str, vector: F32, *, k: int, now: float) -> list[Candidate]:
        early, self._early = self._early, None
        if early is not None:
            at, task = early
            if at == now:
                await task  # a failed sync raises here, as it would have below
            else:  # begun for a lookup that failed before searching: stale, sync again
                with contextlib.suppress(CacheStoreError):
                    await task
                early = None
        if early is None and now - self._last_sync >= self._sync_interval:
            await self.sync(now=now)
        return await self._mirror.search(partition, vector, k=k, now=now)

    async def fetch(self, partition: str, entry_id: str, *, now: float) -> bytes | None:
        try:
            payload = await self._redis.get(self._payload_key(entry_id))
        except RedisError as exc:
            raise CacheStoreError(f"semantic cache fetch failed: {exc}") from exc
        if payload is None:
            expires = self._mirror.expires_at(entry_id)
            if expires is not None:
                self._dropped[entry_id] = expires
                self._mirror.remove_sync(entry_id)
            return None
        if not isinstance(payload, bytes):
            raise TypeError("the Redis client must not decode responses")
        return payload

    async def close(self) -> None:
        if self._early is not None:
            self._early[1].cancel()
            await asyncio.gather(self._early[1], return_exceptions=True)
            self._early = None
        if self._owns_client:
            await self._redis.aclose()
