"""Shared dependencies watched in the background: state for /ready, a metric, two log lines.

Each probe (Redis, the database) is asked every ``interval`` seconds.  An outage is
counted and logged once when it starts and once when it ends, however long it lasts, so
a long outage does not flood the log and a short one is never missed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

from lockgate.task_stop import stop_tasks

__all__ = ["DependencyMonitor", "OutageListener", "RedisProbe"]

Probe = Callable[[], Awaitable[bool]]
log = logging.getLogger("lockgate.health")


class OutageListener(Protocol):
    def dependency_changed(self, name: str, up: bool) -> None: ...


class DependencyMonitor:
    def __init__(
        self,
        probes: Mapping[str, Probe],
        listener: OutageListener | None = None,
        *,
        interval: float = 1.0,
        timeout: float = 1.0,
    ) -> None:
        self._probes = dict(probes)
        self._listener = listener
        self._interval = interval
        self._timeout = timeout
        self.up: dict[str, bool] = dict.fromkeys(self._probes, True)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._listener is not None:
            for name in self._probes:
                self._listener.dependency_changed(name, True)
        if self._probes:
            await self.check()
            self._task = asyncio.create_task(self._run(), name="dependency-monitor")

    async def aclose(self, wait: float = 2.0) -> None:
        """Stop probing and close the probes. The probing task gets ``wait`` seconds to
        end after its cancellation, no more: shutdown once waited on it for ever when a
        cancellation was lost inside a probe (a CI run's replica never exited)."""
        if self._task is not None:
            task, self._task = self._task, None
            await stop_tasks([task], "dependency monitor", wait)
        for probe in self._probes.values():
            close = getattr(probe, "aclose", None)
            if close is not None:
                await close()

    async def check(self) -> dict[str, bool]:
        """Ask every probe once; record and report changes."""
        for name, probe in self._probes.items():
            try:
                async with asyncio.timeout(self._timeout):
                    ok = await probe()
            except Exception:  # a probe that raises is a dependency that is down
                ok = False
            self._observe(name, ok)
        return dict(self.up)

    def _observe(self, name: str, ok: bool) -> None:
        was = self.up[name]
        self.up[name] = ok
        if was == ok:
            return
        if self._listener is not None:
            self._listener.dependency_changed(name, ok)
        if ok:
            log.warning("dependency %s is reachable again", name)
        else:
            log.error("dependency %s is unreachable: serving degraded until it returns", name)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self.check()


class RedisProbe:
    """PINGs the Redis at ``url`` over a kept connection."""

    def __init__(self, url: str) -> None:
        from redis.asyncio import Redis

        self._client = Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)

    async def __call__(self) -> bool:
        return bool(await self._client.ping())

    async def aclose(self) -> None:
        await self._client.aclose()
