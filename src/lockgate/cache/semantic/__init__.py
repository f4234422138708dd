"""Semantic cache: serve an answer cached for a question asked in other words.

Opt-in per model alias. See ``semantic_cache`` for the lookup flow, ``guards``
for why similarity alone is not enough, and ``lockgate.cache.semantic.eval``
for measuring a setting (not re-exported here, so that ``python -m`` runs it
cleanly).
Importing this package loads no model; build a ``LocalEmbedder`` in the app's
lifespan.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lockgate.cache.semantic.embedder import (
        Backend,
        CallableEmbedder,
        Embedder,
        EmbedFn,
        LocalEmbedder,
        normalise_rows,
    )
    from lockgate.cache.semantic.guards import GUARDS, Features, extract_features, near_miss
    from lockgate.cache.semantic.index import Candidate, MemoryIndex, VectorIndex
    from lockgate.cache.semantic.partition import SemanticQuery, partition_key, semantic_query
    from lockgate.cache.semantic.redis_index import RedisIndex
    from lockgate.cache.semantic.semantic_cache import (
        SemanticCache,
        SemanticResult,
        SemanticSettings,
    )

# Exports load on first use, so importing one submodule (a config model, say) does not
# import every backend (redis, numpy) with it.
_EXPORTS = {
    "Backend": "lockgate.cache.semantic.embedder",
    "CallableEmbedder": "lockgate.cache.semantic.embedder",
    "Embedder": "lockgate.cache.semantic.embedder",
    "EmbedFn": "lockgate.cache.semantic.embedder",
    "LocalEmbedder": "lockgate.cache.semantic.embedder",
    "normalise_rows": "lockgate.cache.semantic.embedder",
    "GUARDS": "lockgate.cache.semantic.guards",
    "Features": "lockgate.cache.semantic.guards",
    "extract_features": "lockgate.cache.semantic.guards",
    "near_miss": "lockgate.cache.semantic.guards",
    "Candidate": "lockgate.cache.semantic.index",
    "MemoryIndex": "lockgate.cache.semantic.index",
    "VectorIndex": "lockgate.cache.semantic.index",
    "SemanticQuery": "lockgate.cache.semantic.partition",
    "partition_key": "lockgate.cache.semantic.partition",
    "semantic_query": "lockgate.cache.semantic.partition",
    "RedisIndex": "lockgate.cache.semantic.redis_index",
    "SemanticCache": "lockgate.cache.semantic.semantic_cache",
    "SemanticResult": "lockgate.cache.semantic.semantic_cache",
    "SemanticSettings": "lockgate.cache.semantic.semantic_cache",
}

__all__ = [
    "GUARDS",
    "Backend",
    "CallableEmbedder",
    "Candidate",
    "EmbedFn",
    "Embedder",
    "Features",
    "LocalEmbedder",
    "MemoryIndex",
    "RedisIndex",
    "SemanticCache",
    "SemanticQuery",
    "SemanticResult",
    "SemanticSettings",
    "VectorIndex",
    "extract_features",
    "near_miss",
    "normalise_rows",
    "partition_key",
    "semantic_query",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
