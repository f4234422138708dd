"""The Redis store: ``SET key value PX ttl``, values as raw bytes.

Every failure (connection refused, timeout, protocol error) becomes a
``CacheStoreError`` quickly: sockets have a short timeout, redis-py's own
retries are off, each call is bounded by ``op_timeout``, and after a failure
the store stays "down" for ``cooldown`` seconds and fails without touching
the network, so a dead Redis costs the hot path nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
import structlog
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from lockgate.cache.errors import CacheStoreError

__all__ = ["DEFAULT_PREFIX", "RedisStore"]

DEFAULT_PREFIX = "lockgate:cache:v1:"

log = structlog.get_logger("lockgate.cache")


class RedisStore:
    """``CacheStore`` on Redis; build with ``RedisStore.from_url``."""

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        clock: Callable[[], float],
        prefix: str = DEFAULT_PREFIX,
        op_timeout: float = 0.25,
        cooldown: float = 1.0,
    ) -> None:
        self._client = client
        self._clock = clock
        self.prefix = prefix
        self.op_timeout = op_timeout
        self.cooldown = cooldown
        self._down_until = 0.0

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        clock: Callable[[], float],
        prefix: str = DEFAULT_PREFIX,
        socket_timeout: float = 0.25,
        cooldown: float = 1.0,
    ) -> RedisStore:
        """A store with its own connection pool (``max_connections`` etc. from the URL)."""
        client: aioredis.Redis = aioredis.Redis.from_url(
            url,
            socket_timeout=socket_timeout,
            socket_connect_timeout=socket_timeout,
            retry=Retry(NoBackoff(), 0),
            health_check_interval=0,
        )
        return cls(client, clock=clock, prefix=prefix, op_timeout=socket_timeout, cooldown=cooldown)

    async def get(self, key: str) -> bytes | None:
        value = await self._call(self._client.get, self.prefix + key)
        return value if isinstance(value, bytes) else None

    async def set(self, key: str, value: bytes, ttl: float, owner: str = "") -> None:
        # ``owner`` is not kept: Redis evicts by its own maxmemory-policy
        px = int(ttl * 1000)
        if px <= 0:
            return
        await self._call(self._client.set, self.prefix + key, value, px=px)

    async def add(self, key: str, value: bytes, ttl: float, owner: str = "") -> bool:
        px = int(ttl * 1000)
        if px <= 0:
            return False
        return bool(await self._call(self._client.set, self.prefix + key, value, px=px, nx=True))

    async def delete(self, key: str) -> None:
        await self._call(self._client.delete, self.prefix + key)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self._down_until and self._clock() < self._down_until:
            raise CacheStoreError("redis cache is cooling down after a failure")
        try:
            async with asyncio.timeout(self.op_timeout):
                result = await method(*args, **kwargs)
        except (RedisError, OSError, TimeoutError) as exc:
            if not self._down_until:  # said once per outage, not per call
                log.warning(
                    "redis cache call failed: lookups miss and writes are skipped meanwhile",
                    error=f"{type(exc).__name__}: {exc}"[:200],
                    op_timeout_s=self.op_timeout,
                    cooldown_s=self.cooldown,
                )
            self._down_until = self._clock() + self.cooldown
            raise CacheStoreError(f"redis cache failed: {type(exc).__name__}: {exc}") from exc
        self._down_until = 0.0
        return result
