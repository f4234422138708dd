"""Stored responses in Redis (``responses.backend: redis``), shared by every replica on it.

One string per response (``lockgate:resp:<id>``: owner, times and body) that Redis
expires after ``ttl_seconds``; a sorted set per key and one for all, scored by
creation time, keep the counts bounded: a put drops the key's oldest beyond
``max_stored_per_key`` and the oldest overall beyond ``max_stored``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from lockgate.responses.config import ResponsesSettings
from lockgate.responses.store import StoredResponse, decode_body, encode_body

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["RedisResponseStore"]

_PREFIX = "lockgate:resp:"
_ALL = _PREFIX + "all"


def _owner_set(owner: str) -> str:
    return _PREFIX + "owner:" + owner


class RedisResponseStore:
    def __init__(self, url: str, settings: ResponsesSettings) -> None:
        from redis.asyncio import Redis  # only with Redis configured

        self._redis: Redis = Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self._settings = settings

    async def put(self, response_id: str, entry: StoredResponse) -> bool:
        s = self._settings
        if s.max_stored <= 0 or s.max_stored_per_key <= 0:
            return False
        body = encode_body(entry)
        if len(body) > s.max_entry_bytes:
            return False
        head = orjson.dumps([entry.owner, entry.created_at, entry.expires_at])
        ttl_ms = max(1, int((entry.expires_at - entry.created_at) * 1000))
        mine = _owner_set(entry.owner)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(_PREFIX + response_id, head + b"\n" + body, px=ttl_ms)
            pipe.zadd(mine, {response_id: entry.created_at})
            pipe.zadd(_ALL, {response_id: entry.created_at})
            # members whose strings Redis has already expired
            pipe.zremrangebyscore(mine, "-inf", entry.created_at - s.ttl_seconds)
            pipe.zremrangebyscore(_ALL, "-inf", entry.created_at - s.ttl_seconds)
            pipe.pexpire(mine, ttl_ms)
            await pipe.execute()
        await self._trim(mine, s.max_stored_per_key)
        await self._trim(_ALL, s.max_stored)
        return True

    async def _trim(self, zset: str, keep: int) -> None:
        excess = int(await self._redis.zcard(zset)) - keep
        if excess <= 0:
            return
        popped: list[Any] = await self._redis.zpopmin(zset, excess)
        ids = [m.decode() if isinstance(m, bytes) else str(m) for m, _ in popped]
        if ids:
            await self._redis.delete(*(_PREFIX + i for i in ids))

    async def _read(self, response_id: str) -> tuple[str, float, float, bytes] | None:
        raw = await self._redis.get(_PREFIX + response_id)
        if raw is None:
            return None
        data = raw.encode() if isinstance(raw, str) else raw
        head, _, body = data.partition(b"\n")
        owner, created_at, expires_at = orjson.loads(head)
        return str(owner), float(created_at), float(expires_at), body

    async def get(self, response_id: str, owner: str, now: float) -> StoredResponse | None:
        found = await self._read(response_id)
        if found is None or found[0] != owner or found[2] <= now:
            return None
        return decode_body(found[3], owner, found[1], found[2])

    async def delete(self, response_id: str, owner: str) -> bool:
        found = await self._read(response_id)
        if found is None or found[0] != owner:
            return False
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(_PREFIX + response_id)
            pipe.zrem(_owner_set(owner), response_id)
            pipe.zrem(_ALL, response_id)
            results = await pipe.execute()
        return bool(results[0])

    async def aclose(self) -> None:
        await self._redis.aclose()
