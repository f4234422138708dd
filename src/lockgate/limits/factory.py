"""Choose a limit store by URL: ``memory://`` or ``redis://host:port/db`` (``rediss://`` too)."""

from __future__ import annotations

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from lockgate.limits.memory import MemoryLimitStore
from lockgate.limits.redis import RedisLimitStore
from lockgate.limits.store import FailureMode, LimitStore

__all__ = ["create_limit_store"]


def create_limit_store(
    url: str,
    *,
    failure_mode: FailureMode = "fail_open",
    timeout: float = 0.05,
    server_time: bool = False,
    cooldown: float = 0.5,
    prefix: str = "lockgate:limits:",
    max_connections: int = 64,
    pool_timeout: float = 1.0,
) -> LimitStore:
    """A store for ``url``; ``timeout`` bounds every Redis connect and reply, in seconds.

    Redis calls share a pool of ``max_connections``; when all are busy a call waits up to
    ``pool_timeout`` for one (queueing under a burst is not an outage, so this is longer than
    ``timeout``). Builds the client but does not connect: call it in the app's lifespan.
    """
    scheme = url.partition("://")[0].lower()
    if scheme == "memory":
        return MemoryLimitStore()
    if scheme in ("redis", "rediss", "unix"):
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=pool_timeout,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            # No retries: a script that ran before its reply was lost would take twice.
            retry=Retry(NoBackoff(), 0),
        )
        client = Redis.from_pool(pool)
        return RedisLimitStore(
            client,
            failure_mode=failure_mode,
            prefix=prefix,
            server_time=server_time,
            cooldown=cooldown,
        )
    raise ValueError(f"unsupported limit store URL {url!r} (use memory:// or redis://)")
