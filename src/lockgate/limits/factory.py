"""Choose a limit store by URL: ``memory://`` or ``redis://host:port/db`` (``rediss://`` too)."""

from __future__ import annotations

from collections.abc import Callable

from lockgate.limits.memory import MemoryLimitStore
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
    memory_max_entries: int = 200_000,
    on_memory_full: Callable[[], None] | None = None,
) -> LimitStore:
    """A store for ``url``; ``timeout`` bounds every Redis connect and reply, in seconds.

    At most ``max_connections`` Redis calls are in flight; when all are busy a call queues up to
    ``pool_timeout`` for a turn (queueing under a burst is not an outage, so this is longer than
    ``timeout``). Builds the client but does not connect: call it in the app's lifespan.
    ``memory://`` holds at most ``memory_max_entries`` entries (``on_memory_full`` is called
    for each request refused because it is full; see ``MemoryLimitStore``).
    """
    scheme = url.partition("://")[0].lower()
    if scheme == "memory":
        return MemoryLimitStore(max_entries=memory_max_entries, on_full=on_memory_full)
    if scheme in ("redis", "rediss", "unix"):
        # redis-py (and the OpenTelemetry SDK it imports) loads only when a Redis is configured.
        from redis.asyncio import ConnectionPool, Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        from lockgate.limits.redis import RedisLimitStore

        # A plain pool gated by the store's semaphore: redis-py's BlockingConnectionPool costs
        # ~100 µs per call even when idle, more than the round trip itself.
        pool = ConnectionPool.from_url(
            url,
            max_connections=max_connections,
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
            max_in_flight=max_connections,
            queue_timeout=pool_timeout,
        )
    raise ValueError(f"unsupported limit store URL {url!r} (use memory:// or redis://)")
