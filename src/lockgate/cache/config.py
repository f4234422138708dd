"""The ``cache:`` section of the config file, and building the service from it.

```yaml
cache:
  url: memory://?max_bytes=67108864     # or redis://host:6379/0
  mode: deterministic                   # deterministic | always | off
  ttl: 3600
  max_ttl: 86400                        # cap for a client's ttl=
  include_user: false                   # true: the OpenAI `user` field splits entries
  coalesce: true                        # share identical in-flight calls in this process
  cross_replica: false                  # also across replicas (needs a redis:// url)
  aliases:
    gpt-4o: {mode: always, ttl: 600}
```

The lead embeds ``CacheSettings`` in ``Settings`` and calls
``build_response_cache`` in the lifespan; nothing here reads files or env.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from lockgate.cache.policy import AliasCachePolicy, CacheMode

if TYPE_CHECKING:
    from lockgate.cache.response_cache import ResponseCache

__all__ = ["AliasCacheSettings", "CacheSettings", "build_response_cache"]


class AliasCacheSettings(BaseModel):
    """Per-alias overrides; unset fields inherit the section's values."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: CacheMode | None = None
    ttl: float | None = Field(default=None, ge=0)
    max_ttl: float | None = Field(default=None, ge=0)


class CacheSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = "memory://?max_bytes=67108864"
    mode: CacheMode = "deterministic"
    ttl: float = Field(default=3600.0, ge=0)
    max_ttl: float = Field(default=86400.0, ge=0)
    include_user: bool = False
    coalesce: bool = True
    cross_replica: bool = False
    aliases: dict[str, AliasCacheSettings] = Field(default_factory=dict)

    def default_policy(self) -> AliasCachePolicy:
        return AliasCachePolicy(mode=self.mode, ttl=self.ttl, max_ttl=self.max_ttl)

    def alias_policies(self) -> dict[str, AliasCachePolicy]:
        out: dict[str, AliasCachePolicy] = {}
        for alias, o in self.aliases.items():
            out[alias] = AliasCachePolicy(
                mode=o.mode if o.mode is not None else self.mode,
                ttl=o.ttl if o.ttl is not None else self.ttl,
                max_ttl=o.max_ttl if o.max_ttl is not None else self.max_ttl,
            )
        return out


def build_response_cache(
    settings: CacheSettings,
    *,
    clock: Callable[[], float] = time.monotonic,
    wall_clock: Callable[[], float] = time.time,
) -> ResponseCache:
    """The cache service for ``settings``; close it with ``await cache.store.aclose()``."""
    # Imported here so that loading the config (e.g. for a CLI command) stays cheap.
    from lockgate.cache.coalesce import Coalescer
    from lockgate.cache.factory import create_cache_store
    from lockgate.cache.remote_flight import RemoteFlights
    from lockgate.cache.response_cache import ResponseCache

    store = create_cache_store(settings.url, clock=clock)
    remote = None
    if settings.cross_replica:
        if settings.url.startswith("memory:"):
            raise ValueError("cache.cross_replica needs a shared store (a redis:// url)")
        remote = RemoteFlights(store)
    return ResponseCache(
        store=store,
        wall_clock=wall_clock,
        coalescer=Coalescer() if settings.coalesce else None,
        policies=settings.alias_policies(),
        default_policy=settings.default_policy(),
        include_user=settings.include_user,
        remote=remote,
    )
