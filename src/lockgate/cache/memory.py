"""An in-process LRU store bounded by bytes, with a TTL per entry, fair between owners.

Size is counted as ``len(key) + len(value)`` of the serialised entry, which
tracks real memory well enough to bound it and costs nothing to compute.
Every operation is O(1): an ``OrderedDict`` gives LRU order, expired entries
are dropped when read or when they reach the cold end during eviction.

Entries have an owner (the exact cache's tenant namespace). When the store is full, an
owner holding more than an even share of it (``max_bytes`` / owners holding entries)
makes room from its own coldest entries; only an owner within its share evicts the
store's coldest entry, whoever owns it. One tenant sending many distinct requests
therefore evicts nobody else's answers once it holds its share (before, it could flush
the whole cache for every tenant: tests/hardening/test_cache_share.py). With one owner
this is plain LRU.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

__all__ = ["MemoryStore"]


class MemoryStore:
    """``CacheStore`` in process memory; ``clock`` is monotonic seconds."""

    def __init__(self, *, max_bytes: int, clock: Callable[[], float]) -> None:
        if max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        self.max_bytes = max_bytes
        self._clock = clock
        self._data: OrderedDict[str, tuple[bytes, float, str]] = OrderedDict()
        self._bytes = 0
        #: each owner's keys, coldest first, and the bytes they hold
        self._owned: dict[str, OrderedDict[str, None]] = {}
        self._owner_bytes: dict[str, int] = {}
        #: Entries dropped to stay under ``max_bytes`` (for metrics).
        self.evictions = 0

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._data)

    def owner_bytes(self, owner: str) -> int:
        """Bytes held by ``owner``'s entries."""
        return self._owner_bytes.get(owner, 0)

    def memory_sizes(self) -> list[tuple[str, int, int]]:
        """Entries and bytes held (bounded by ``max_bytes``), for metrics."""
        return [("response_cache", len(self._data), self._bytes)]

    async def get(self, key: str) -> bytes | None:
        item = self._data.get(key)
        if item is None:
            return None
        value, expires_at, owner = item
        if expires_at <= self._clock():
            self._drop(key)
            return None
        self._data.move_to_end(key)
        self._owned[owner].move_to_end(key)
        return value

    async def set(self, key: str, value: bytes, ttl: float, owner: str = "") -> None:
        self._drop(key)
        size = len(key) + len(value)
        if ttl <= 0 or size > self.max_bytes:
            return
        if self._bytes + size > self.max_bytes:
            owners = len(self._owned) + (owner not in self._owned)
            if size > self.max_bytes // owners:
                return  # bigger than the owner's share of a full store: not kept
        self._data[key] = (value, self._clock() + ttl, owner)
        mine = self._owned.get(owner)
        if mine is None:
            mine = self._owned[owner] = OrderedDict()
        mine[key] = None
        self._owner_bytes[owner] = self._owner_bytes.get(owner, 0) + size
        self._bytes += size
        while self._bytes > self.max_bytes:
            share = self.max_bytes // len(self._owned)
            # over its share: room from its own entries; else from the coldest anywhere
            cold = next(iter(mine if self._owner_bytes[owner] > share else self._data))
            self._drop(cold)
            self.evictions += 1

    async def add(self, key: str, value: bytes, ttl: float, owner: str = "") -> bool:
        if await self.get(key) is not None:
            return False
        await self.set(key, value, ttl, owner)
        return key in self._data

    async def delete(self, key: str) -> None:
        self._drop(key)

    async def aclose(self) -> None:
        self._data.clear()
        self._owned.clear()
        self._owner_bytes.clear()
        self._bytes = 0

    def _drop(self, key: str) -> None:
        item = self._data.pop(key, None)
        if item is None:
            return
        value, _, owner = item
        size = len(key) + len(value)
        self._bytes -= size
        mine = self._owned[owner]
        del mine[key]
        if mine:
            self._owner_bytes[owner] -= size
        else:
            del self._owned[owner]
            del self._owner_bytes[owner]
