"""Key changes reach every gateway process within a second.

Each process keeps looked-up keys in memory (``Authenticator``).  Two signals tell it to
drop them:

* the database's key change counter (``key_changes.version``, moved in the same
  transaction as every create/revoke/rotate), read every ``interval`` seconds: one
  primary-key read, so it works with nothing but the shared database (and for
  ``lockgate keys revoke`` run against it);
* with Redis, a message on ``lockgate:keys`` published after each change by the admin
  API and the CLI, which every process hears at once.

The poll is the guarantee, the message the shortcut: a missed message (Redis down,
a process reconnecting) costs at most one interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Protocol

from lockgate.task_stop import stop_tasks

__all__ = ["CHANNEL", "KeyChangeFeed", "announce_key_change"]

CHANNEL = "lockgate:keys"
log = logging.getLogger("lockgate.auth")


class VersionSource(Protocol):
    async def version(self) -> int: ...


async def announce_key_change(redis_url: str | None, channel: str = CHANNEL) -> None:
    """Tell every listening process a key changed (best effort: the poll backs it up).
    Other change feeds (lockgate.modelconfig) announce on their own ``channel``."""
    if not redis_url:
        return
    from redis.asyncio import Redis  # only with Redis configured
    from redis.exceptions import RedisError

    client = Redis.from_url(redis_url, socket_timeout=1.0, socket_connect_timeout=1.0)
    try:
        await client.publish(channel, b"changed")
    except (RedisError, OSError) as exc:
        log.warning("could not announce a change on Redis (%s): %r", channel, exc)
    finally:
        await client.aclose()


class KeyChangeFeed:
    """Calls ``on_change`` when keys changed anywhere; runs as two background tasks."""

    def __init__(
        self,
        source: VersionSource,
        on_change: Callable[[], None],
        *,
        interval: float,
        redis_url: str | None = None,
        channel: str = CHANNEL,
    ) -> None:
        self._channel = channel
        self._source = source
        self._on_change = on_change
        self._interval = interval
        self._redis_url = redis_url
        self._version: int | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        with contextlib.suppress(Exception):
            self._version = await self._source.version()
        self._tasks.append(asyncio.create_task(self._poll(), name="key-change-poll"))
        if self._redis_url:
            self._tasks.append(asyncio.create_task(self._listen(), name="key-change-listen"))

    async def aclose(self) -> None:
        await stop_tasks(self._tasks, "key change feed")
        self._tasks.clear()

    async def check(self) -> bool:
        """Read the counter once; ``True`` (and caches dropped) if it moved."""
        version = await self._source.version()
        moved = self._version is not None and version != self._version
        self._version = version
        if moved:
            self._on_change()
        return moved

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            # The database may be down: keep the caches and try again next tick.
            with contextlib.suppress(Exception):
                await self.check()

    async def _listen(self) -> None:
        assert self._redis_url is not None
        from redis.asyncio import Redis  # only with Redis configured
        from redis.exceptions import RedisError

        delay = 0.5
        while True:
            client = Redis.from_url(self._redis_url, socket_connect_timeout=1.0)
            try:
                async with client.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(self._channel)
                    # Messages may have been missed while not subscribed.
                    self._on_change()
                    delay = 0.5
                    while True:
                        message = await pubsub.get_message(timeout=5.0)
                        if message is not None:
                            self._on_change()
            except (RedisError, OSError):
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            finally:
                await client.aclose()
