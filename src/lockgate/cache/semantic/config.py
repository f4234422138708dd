"""The ``semantic_cache:`` section of the config file, and building the stage from it.

```yaml
semantic_cache:
  index: memory://                  # or redis://host:6379/0 (shared by replicas)
  capacity: 100000                  # entries kept (oldest out first)
  embedder: local                   # local all-MiniLM-L6-v2, or "gateway" (see below)
  backend: onnx-int8                # onnx-int8 | onnx | numpy, for the local embedder
  max_false_hit_rate: 0.01          # error budget: the learned verifier's operating point
  token_store_mb: 256               # candidates' token vectors kept (int8, ~7 kB a question)
  inline_embed_tokens: 96           # shorter texts are embedded on the event loop (no thread hop)
  inline_max_in_flight: 1           # ... while the worker handles at most this many requests
  share_token_kb: 12                # Redis index: an entry's token vectors go with it (<= 12 kB)
  verify_sample_rate: 0.02          # share of served hits re-asked upstream (live estimate;
                                    # with a Redis index its tallies are shared by replicas)
  ttl: 3600
  shadow: false
  aliases:                          # opt-in: only these aliases use it
    fast: {}
    support-bot: {shadow: true, max_false_hit_rate: 0.005}
    legacy: {verifier: false, threshold: 0.93}   # cosine threshold + near-miss guards
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
from pathlib import Path

from lockgate.cache.semantic.embedder import (
    CallableEmbedder,
    Embedder,
    EmbedFn,
    LocalEmbedder,
)
from lockgate.cache.semantic.index import MemoryIndex, VectorIndex
from lockgate.cache.semantic.live_shared import SharedTallies
from lockgate.cache.semantic.redis_index import RedisIndex
from lockgate.cache.semantic.semantic_cache import SemanticCache
from lockgate.cache.semantic.settings import AliasSemanticSettings, SemanticCacheSettings
from lockgate.cache.semantic.stage import SemanticCacheStage
from lockgate.cache.semantic.verifier import load_verifier

__all__ = [
    "AliasSemanticSettings",
    "SemanticCacheSettings",
    "build_index",
    "build_semantic_stage",
]


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
    local: Embedder | None = None,
) -> SemanticCacheStage:
    """The stage for ``settings`` (validates every alias's settings up front); ``local``:
    a local embedder shared with the router (else one of its own is loaded)."""
    aliases = settings.alias_settings()
    embedder: Embedder
    if settings.embedder == "local" and local is not None:
        embedder = local
    elif settings.embedder == "gateway":
        if embed_fn is None or dim is None:
            raise ValueError("semantic_cache.embedder 'gateway' needs embed_fn and dim")
        embedder = CallableEmbedder(embed_fn, dim)
    else:
        embedder = LocalEmbedder(
            model=settings.model,
            backend=settings.backend,
            inline_tokens=settings.inline_embed_tokens,
            inline_max_in_flight=settings.inline_max_in_flight,
        )
    verifier = None
    if settings.verifier or any(a.verifier for a in aliases.values()):
        text = None
        if settings.verifier_weights is not None:
            text = Path(settings.verifier_weights).read_text(encoding="utf-8")
        verifier = load_verifier(text, backend=settings.backend, model=settings.model)
    index = build_index(settings.index, embedder.dim, settings.capacity)
    default = settings.section_settings()
    cache = SemanticCache(
        embedder,
        index,
        default,
        verifier,
        token_cache_bytes=settings.token_store_mb << 20,
        share_token_bytes=settings.share_token_kb << 10,
    )
    stage = SemanticCacheStage(
        cache,
        aliases,
        wall_clock,
        answer_agreement=settings.answer_agreement,
        judge_model=settings.judge_model,
    )
    if isinstance(index, RedisIndex) and stage.live is not None:
        stage.shared = SharedTallies(index.client, stage.live, prefix=index.prefix)
    return stage
