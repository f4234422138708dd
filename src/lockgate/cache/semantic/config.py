"""The ``semantic_cache:`` section of the config file, and building the stage from it.

```yaml
semantic_cache:
  index: memory://                  # or redis://host:6379/0 (shared by replicas)
  capacity: 100000                  # entries kept (oldest out first)
  embedder: local                   # local all-MiniLM-L6-v2, or "gateway" (see below)
  backend: onnx                     # onnx | numpy, for the local embedder
  threshold: 0.90
  guards: all                       # or a list: [numbers, negation, opposites, ...]
  ttl: 3600
  shadow: false
  aliases:                          # opt-in: only these aliases use it
    fast: {}
    support-bot: {shadow: true, threshold: 0.93}
```

``embedder: gateway`` means the caller passes ``embed_fn`` and ``dim`` to
``build_semantic_stage`` (e.g. a function calling an embeddings alias of this
gateway). Loading the local model takes about a second: build the stage in
the lifespan with ``await asyncio.to_thread(build_semantic_stage, settings)``
and close it with ``await stage.cache.index.close()`` on shutdown.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from lockgate.cache.semantic.embedder import (
    Backend,
    CallableEmbedder,
    Embedder,
    EmbedFn,
    LocalEmbedder,
)
from lockgate.cache.semantic.guards import GUARDS
from lockgate.cache.semantic.index import MemoryIndex, VectorIndex
from lockgate.cache.semantic.redis_index import RedisIndex
from lockgate.cache.semantic.semantic_cache import SemanticCache, SemanticSettings
from lockgate.cache.semantic.stage import SemanticCacheStage

__all__ = [
    "AliasSemanticSettings",
    "SemanticCacheSettings",
    "build_index",
    "build_semantic_stage",
]


class AliasSemanticSettings(BaseModel):
    """Per-alias overrides; unset fields inherit the section's values."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    threshold: float | None = Field(default=None, ge=-1.0, le=1.0)
    guards: Literal["all"] | list[str] | None = None
    ttl: float | None = Field(default=None, gt=0)
    shadow: bool | None = None


class SemanticCacheSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    index: str = "memory://"
    capacity: int = Field(default=100_000, ge=1)
    embedder: Literal["local", "gateway"] = "local"
    backend: Backend = "onnx"
    threshold: float = Field(default=0.90, ge=-1.0, le=1.0)
    guards: Literal["all"] | list[str] = "all"
    ttl: float = Field(default=3600.0, gt=0)
    shadow: bool = False
    top_k: int = Field(default=4, ge=1)
    max_query_chars: int = Field(default=2000, ge=1)
    aliases: dict[str, AliasSemanticSettings] = Field(default_factory=dict)

    def alias_settings(self) -> dict[str, SemanticSettings]:
        """The effective ``SemanticSettings`` of each opted-in alias."""
        out: dict[str, SemanticSettings] = {}
        for alias, o in self.aliases.items():
            guards = o.guards if o.guards is not None else self.guards
            out[alias] = SemanticSettings(
                threshold=o.threshold if o.threshold is not None else self.threshold,
                guards=tuple(GUARDS) if guards == "all" else tuple(guards),
                shadow=o.shadow if o.shadow is not None else self.shadow,
                ttl_seconds=o.ttl if o.ttl is not None else self.ttl,
                top_k=self.top_k,
                max_query_chars=self.max_query_chars,
            )
        return out


def build_index(url: str, dim: int, capacity: int) -> VectorIndex:
    """``memory://`` or ``redis://...`` (``rediss://`` too)."""
    if url.startswith("memory:"):
        return MemoryIndex(dim, capacity=capacity)
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisIndex.from_url(url, dim, capacity=capacity)
    raise ValueError(f"semantic_cache.index: unsupported URL {url!r} (memory:// or redis://)")


def build_semantic_stage(
    settings: SemanticCacheSettings,
    *,
    embed_fn: EmbedFn | None = None,
    dim: int | None = None,
    wall_clock: Callable[[], float] = time.time,
) -> SemanticCacheStage:
    """The stage for ``settings`` (validates every alias's settings up front)."""
    aliases = settings.alias_settings()
    embedder: Embedder
    if settings.embedder == "gateway":
        if embed_fn is None or dim is None:
            raise ValueError("semantic_cache.embedder 'gateway' needs embed_fn and dim")
        embedder = CallableEmbedder(embed_fn, dim)
    else:
        embedder = LocalEmbedder(backend=settings.backend)
    index = build_index(settings.index, embedder.dim, settings.capacity)
    default = SemanticSettings(threshold=settings.threshold, ttl_seconds=settings.ttl)
    return SemanticCacheStage(SemanticCache(embedder, index, default), aliases, wall_clock)
