"""Coalescing across replicas, for non-streaming calls, over the shared cache store.

The ``Coalescer`` shares calls inside one process.  With several replicas behind
a load balancer, identical requests landing on different replicas would still
each call upstream.  ``RemoteFlights`` closes that gap with a claim in the
shared store (Redis ``SET NX PX``):

* the replica that claims ``flight:<key>`` calls upstream, stores the answer,
  then drops the claim;
* any other replica polls the store (every ``poll`` seconds, at most
  ``max_wait``) until the answer appears - served as a coalesced miss - or the
  claim vanishes without one (the leader failed or the answer was not
  storable), and then calls upstream itself.

A claim lives at most ``lease`` seconds, so a replica that dies mid-call blocks
nobody for longer.  Store failures degrade to "lead": never worse than no
coalescing.  Streams are not coalesced across replicas: a follower would have to
wait for the whole answer, which defeats streaming.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from lockgate.cache.errors import CacheStoreError
from lockgate.cache.store import CacheStore

__all__ = ["RemoteFlights"]

_CLAIM = b"1"


@dataclass(slots=True)
class RemoteFlights:
    """Cross-replica singleflight claims in a shared ``CacheStore``."""

    store: CacheStore
    lease: float = 60.0
    poll: float = 0.05
    max_wait: float = 60.0

    @staticmethod
    def claim_key(key: str) -> str:
        return "flight:" + key

    async def claim(self, key: str) -> bool:
        """``True`` if this replica should call upstream (it won the claim, or the store failed)."""
        try:
            return await self.store.add(self.claim_key(key), _CLAIM, self.lease)
        except CacheStoreError:
            return True

    async def release(self, key: str) -> None:
        """Drop the claim so waiting replicas stop polling."""
        # On a store failure the lease simply runs out on its own.
        with contextlib.suppress(CacheStoreError):
            await self.store.delete(self.claim_key(key))

    async def wait(
        self, key: str, lookup: Callable[[], Awaitable[dict[str, Any] | None]]
    ) -> dict[str, Any] | None:
        """The leader's answer via ``lookup``, or ``None`` when it will not come."""
        for _ in range(max(1, int(self.max_wait / self.poll))):
            await asyncio.sleep(self.poll)
            found = await lookup()
            if found is not None:
                return found
            try:
                claimed = await self.store.get(self.claim_key(key)) is not None
            except CacheStoreError:
                return None
            if not claimed:
                # The leader may have stored its answer just before releasing.
                return await lookup()
        return None
