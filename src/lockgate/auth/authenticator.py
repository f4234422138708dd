"""Resolve a presented key to a Principal, with a short in-process cache."""

from __future__ import annotations

import hmac
import sqlite3
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from lockgate.auth.keys import Principal, hash_key
from lockgate.auth.repository import KeyRepository
from lockgate.errors import AuthenticationError, ServiceUnavailableError
from lockgate.storage.lean_import import lazy_module

if TYPE_CHECKING:
    from sqlalchemy import exc as sa_exc
else:  # imported on first use (storage/lean_import.py)
    sa_exc = lazy_module("sqlalchemy.exc")

__all__ = ["Authenticator"]

_ANONYMOUS = Principal(kind="anonymous", name="anonymous")
_MASTER = Principal(kind="master", name="master")
_MAX_CACHED = 10_000
#: what a client is told to wait when the key store cannot be read
KEY_STORE_RETRY_AFTER = 5.0


class Authenticator:
    """Checks keys: the master key, then virtual keys (cached for ``ttl`` seconds).

    With no master key the gateway runs in open local mode: any key (or none) is
    accepted, but a presented virtual key still brings its own scopes.
    """

    def __init__(
        self,
        repository: KeyRepository,
        master_key: str | None,
        ttl: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._repo = repository
        self._master = master_key.encode() if master_key else None
        self._ttl = ttl
        self._clock = clock
        #: key hash -> (cache expiry, principal or None for unknown/inactive, inactive flag)
        self._cache: dict[str, tuple[float, Principal | None, bool]] = {}

    def memory_sizes(self) -> list[tuple[str, int, int]]:
        """Cached key lookups (bounded by entries), for metrics."""
        return [("key_lookups", len(self._cache), 0)]

    @property
    def open_mode(self) -> bool:
        return self._master is None

    def forget(self) -> None:
        """Drop cached lookups (after a key is revoked or rotated here)."""
        self._cache.clear()

    async def authenticate(self, presented: str | None) -> Principal:
        if not presented:
            if self._master is None:
                return _ANONYMOUS
            raise AuthenticationError(
                "Missing API key: send 'Authorization: Bearer <key>' or 'x-api-key: <key>'."
            )
        if self._master is not None and hmac.compare_digest(presented.encode(), self._master):
            return _MASTER
        now = self._clock()
        digest = hash_key(presented)
        hit = self._cache.get(digest)
        if hit is None or hit[0] <= now:
            try:
                key = await self._repo.find_by_hash(digest)
            except (sa_exc.SQLAlchemyError, sqlite3.Error, OSError, TimeoutError) as exc:
                if hit is None:
                    # Not a client error and not a bug: the key store is down.  503 with
                    # Retry-After, and the request is recorded (audit) once it is back.
                    raise ServiceUnavailableError(
                        "The key store is unavailable; retry shortly.",
                        code="key_store_unavailable",
                        retry_after=KEY_STORE_RETRY_AFTER,
                    ) from exc
                key = None  # keep serving what was known (stale-if-error)
            else:
                hit = None
        if hit is None:
            if len(self._cache) >= _MAX_CACHED:
                self._cache.clear()
            principal = Principal.from_key(key) if key is not None and key.active(now) else None
            hit = (now + self._ttl, principal, key is not None)
            self._cache[digest] = hit
        principal = hit[1]
        if principal is not None and (principal.expires_at is None or now < principal.expires_at):
            return principal
        if self._master is None:
            return _ANONYMOUS
        if hit[2]:
            raise AuthenticationError(
                "This API key has been revoked or has expired.", code="key_inactive"
            )
        raise AuthenticationError("Invalid API key.")
