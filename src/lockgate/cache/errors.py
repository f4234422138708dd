"""Errors of the cache's storage seam."""

from __future__ import annotations

from lockgate.errors import ServiceUnavailableError

__all__ = ["CacheStoreError"]


class CacheStoreError(ServiceUnavailableError):
    """A cache backend failed (down, timed out, corrupt value).

    Callers on the request path treat it as a miss, never as a failed request;
    it subclasses ``ServiceUnavailableError`` only so that it has a place in the
    one error tree should it ever escape.
    """

    code = "cache_unavailable"
