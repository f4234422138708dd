"""Choose a cache backend by URL.

* ``memory://?max_bytes=67108864`` - in-process LRU (default 64 MiB)
* ``redis://host:port/db``, ``rediss://...``, ``unix:///path`` - Redis; an optional
  ``prefix`` query parameter replaces ``lockgate:cache:v1:``; ``socket_timeout``
  (seconds) bounds every call; other query parameters go to redis-py.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from lockgate.cache.memory import MemoryStore
from lockgate.cache.store import CacheStore

__all__ = ["DEFAULT_MEMORY_BYTES", "create_cache_store"]

DEFAULT_MEMORY_BYTES = 64 * 1024 * 1024


def create_cache_store(
    url: str,
    *,
    clock: Callable[[], float] = time.monotonic,
) -> CacheStore:
    """Build the store named by ``url``; ``clock`` drives TTLs and cooldowns."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    if parts.scheme == "memory":
        unknown = set(query) - {"max_bytes"}
        if unknown:
            raise ValueError(f"memory cache URL: unknown parameters {sorted(unknown)}")
        return MemoryStore(max_bytes=int(query.get("max_bytes", DEFAULT_MEMORY_BYTES)), clock=clock)
    if parts.scheme in ("redis", "rediss", "unix"):
        from lockgate.cache.redis import DEFAULT_PREFIX, RedisStore

        prefix = query.pop("prefix", DEFAULT_PREFIX)
        timeout = float(query.pop("socket_timeout", 0.25))
        rest = urlunsplit(parts._replace(query=urlencode(query)))
        return RedisStore.from_url(rest, clock=clock, prefix=prefix, socket_timeout=timeout)
    raise ValueError(f"unsupported cache URL scheme {parts.scheme!r} (memory, redis, rediss, unix)")
