"""Semantic cache: serve an answer cached for a question asked in other words.

Opt-in per model alias. See ``semantic_cache`` for the lookup flow, ``guards``
for why similarity alone is not enough, and ``lockgate.cache.semantic.eval``
for measuring a setting (not re-exported here, so that ``python -m`` runs it
cleanly).
Importing this package loads no model; build a ``LocalEmbedder`` in the app's
lifespan.
"""

from __future__ import annotations

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
from lockgate.cache.semantic.semantic_cache import SemanticCache, SemanticResult, SemanticSettings

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
