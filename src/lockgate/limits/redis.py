"""Redis limit store (``redis://host:port/db``): one Lua script, one round trip per call.

Every reserve runs as a single ``EVALSHA``: all the limits of a request are checked and taken
atomically inside Redis, so any number of replicas sharing the Redis admit exactly the limit.
The script is sent once (``EVAL`` on the first ``NOSCRIPT``, which also caches it, e.g. after a
Redis restart) and called by its SHA afterwards.

Time: by default ``now`` comes from the caller's clock, which lets tests drive time and keeps
Redis ``TIME`` out of the hot path; replicas' clocks must then be NTP-synced (a skew of ``d``
seconds lets a replica see ``d * rate`` units more or fewer; the stored time never moves
backwards, so a lagging clock cannot refill a bucket). ``server_time=True`` uses Redis ``TIME``
instead (one clock for all replicas; budget calendar periods still follow the caller's clock).

Failure policy: every call is bounded by the client's socket timeouts and never retried (a
retried script could take twice). When Redis is unreachable, ``fail_open`` admits and marks the
decision ``degraded``, ``fail_closed`` raises ``ServiceUnavailableError``; for ``cooldown``
seconds after a failure the store does not try Redis again, so an outage costs one timeout per
cooldown instead of one per request. The client reconnects by itself when Redis is back.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ClusterDownError, NoScriptError, OutOfMemoryError, ReadOnlyError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from lockgate.errors import ServiceUnavailableError
from lockgate.limits.lua import LIMITS_SCRIPT
from lockgate.limits.store import Adjustment, Check, FailureMode, StoreDecision

__all__ = ["RedisLimitStore"]

_log = logging.getLogger("lockgate.limits")

# Unreachable, slow, full, or a replica after a failover: the limiter cannot do its job, and
# the failure policy decides. Other errors (a bad script) are bugs and propagate.
_OUTAGE = (
    RedisConnectionError,
    RedisTimeoutError,
    OSError,
    TimeoutError,
    OutOfMemoryError,
    ReadOnlyError,
    ClusterDownError,
)
_RESERVE_CODES = {"gcra": "g", "lease": "l", "budget": "b"}
_SETTLE_CODES = {"gcra": "g", "budget": "b", "release": "x", "renew": "n"}
_OPEN = StoreDecision(True, -1, 0.0, (), degraded=True)


class RedisLimitStore:
    """Limit state in Redis, shared by every replica that uses the same Redis."""

    def __init__(
        self,
        client: Redis,
        *,
        failure_mode: FailureMode = "fail_open",
        prefix: str = "lockgate:limits:",
        server_time: bool = False,
        cooldown: float = 0.5,
        max_in_flight: int = 64,
        queue_timeout: float = 1.0,
    ) -> None:
        """``max_in_flight`` must not exceed the client pool's ``max_connections``."""
        self._client = client
        self._gate = asyncio.Semaphore(max_in_flight)
        self._queue_timeout = queue_timeout
        self._failure_mode: FailureMode = failure_mode
        self._prefix = prefix
        self._server_time = server_time
        self._cooldown = cooldown
        self._script = LIMITS_SCRIPT
        self._sha = hashlib.sha1(LIMITS_SCRIPT.encode()).hexdigest()
        self._down_until = float("-inf")
        #: ``False`` from an outage until Redis answers again (for health checks and metrics).
        self.healthy = True

    async def reserve(self, checks: Sequence[Check], now: float) -> StoreDecision:
        """Check and take every limit in one ``EVALSHA``."""
        keys = [self._prefix + c.key for c in checks]
        args: list[str] = ["r", "" if self._server_time else repr(now)]
        for c in checks:
            args += (_RESERVE_CODES[c.algo], repr(c.limit), repr(c.period), repr(c.cost), c.member)
        reply = await self._run(keys, args, now)
        if reply is None:
            if self._failure_mode == "fail_open":
                return _OPEN
            raise ServiceUnavailableError(
                "rate limit storage (Redis) is unavailable",
                retry_after=max(1.0, self._cooldown),
            )
        return StoreDecision(
            allowed=reply[0] == 1,
            rejected=reply[1],
            retry_after=float(reply[2]),
            levels=tuple(map(float, reply[3:])),
        )

    async def settle(self, adjustments: Sequence[Adjustment], now: float) -> bool:
        """Apply adjustments in one ``EVALSHA``; ``False`` if Redis was unreachable."""
        if not adjustments:
            return True
        keys = [self._prefix + a.key for a in adjustments]
        args: list[str] = ["s", "" if self._server_time else repr(now)]
        for a in adjustments:
            args += (_SETTLE_CODES[a.op], repr(a.limit), repr(a.period), repr(a.delta), a.member)
        return await self._run(keys, args, now) is not None

    async def _run(self, keys: list[str], args: list[str], now: float) -> Any:
        """The script's reply, or ``None`` when Redis is unreachable."""
        if now < self._down_until:
            return None
        if self._gate.locked():
            # Every connection is busy: queue, bounded, instead of failing the call.
            try:
                async with asyncio.timeout(self._queue_timeout):
                    await self._gate.acquire()
            except TimeoutError:
                return None
        else:
            await self._gate.acquire()
        try:
            try:
                reply = await self._client.evalsha(self._sha, len(keys), *keys, *args)
            except NoScriptError:
                reply = await self._client.eval(self._script, len(keys), *keys, *args)
        except _OUTAGE as exc:
            if self.healthy:
                _log.warning(
                    "limit store (Redis) unreachable; %s until it answers",
                    "admitting requests unchecked"
                    if self._failure_mode == "fail_open"
                    else "refusing requests (503)",
                    extra={"error": repr(exc)},
                )
            self.healthy = False
            self._down_until = now + self._cooldown
            return None
        finally:
            self._gate.release()
        if not self.healthy:
            _log.warning("limit store (Redis) reachable again; limits enforced")
        self.healthy = True
        return reply

    async def aclose(self) -> None:
        """Close the client's connections."""
        await self._client.aclose()
