"""The key-value seam every cache backend implements.

Values are opaque bytes with a per-entry TTL, so the exact cache and the
semantic cache (and anything else) can share one backend.  A backend raises
``CacheStoreError`` when it fails; degrading to a miss is the caller's job
(see ``ResponseCache``), which keeps backends honest and testable.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["CacheStore"]


class CacheStore(Protocol):
    """Bytes under string keys, each with its own time to live."""

    async def get(self, key: str) -> bytes | None:
        """The value, or ``None`` when absent or expired."""
        ...

    async def set(self, key: str, value: bytes, ttl: float, owner: str = "") -> None:
        """Store ``value`` for ``ttl`` seconds (> 0), replacing any previous value.

        ``owner`` (a tenant) lets a bounded backend keep one owner from evicting the
        others' entries (``MemoryStore``); a backend may ignore it."""
        ...

    async def add(self, key: str, value: bytes, ttl: float, owner: str = "") -> bool:
        """Store ``value`` only if ``key`` is absent (or expired); ``True`` if stored."""
        ...

    async def delete(self, key: str) -> None:
        """Forget ``key``; absent keys are fine."""
        ...

    async def aclose(self) -> None:
        """Release connections; the store is unusable afterwards."""
        ...
