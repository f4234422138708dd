"""An in-process LRU store bounded by bytes, with a TTL per entry.

Size is counted as ``len(key) + len(value)`` of the serialised entry, which
tracks real memory well enough to bound it and costs nothing to compute.
Every operation is O(1): an ``OrderedDict`` gives LRU order, expired entries
are dropped when read or when they reach the cold end during eviction.
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
        self._data: OrderedDict[str, tuple[bytes, float]] = OrderedDict()
        self._bytes = 0
        #: Entries dropped to stay under ``max_bytes`` (for metrics).
        self.evictions = 0

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._data)

    def memory_sizes(self) -> list[tuple[str, int, int]]:
        """Entries and bytes held (bounded by ``max_bytes``), for metrics."""
        return [("response_cache", len(self._data), self._bytes)]

    async def get(self, key: str) -> bytes | None:
        item = self._data.get(key)
        if item is None:
            return None
        value, expires_at = item
        if expires_at <= self._clock():
            self._drop(key, value)
            return None
        self._data.move_to_end(key)
        return value

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        old = self._data.pop(key, None)
        if old is not None:
            self._bytes -= len(key) + len(old[0])
        size = len(key) + len(value)
        if ttl <= 0 or size > self.max_bytes:
            return
        self._data[key] = (value, self._clock() + ttl)
        self._bytes += size
        while self._bytes > self.max_bytes:
            cold_key, (cold_value, _) = self._data.popitem(last=False)
            self._bytes -= len(cold_key) + len(cold_value)
            self.evictions += 1

    async def add(self, key: str, value: bytes, ttl: float) -> bool:
        if await self.get(key) is not None:
            return False
        await self.set(key, value, ttl)
        return key in self._data

    async def delete(self, key: str) -> None:
        item = self._data.pop(key, None)
        if item is not None:
            self._bytes -= len(key) + len(item[0])

    async def aclose(self) -> None:
        self._data.clear()
        self._bytes = 0

    def _drop(self, key: str, value: bytes) -> None:
        del self._data[key]
        self._bytes -= len(key) + len(value)
