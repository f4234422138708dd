"""Embedders and vectors with exactly known similarities, for the semantic tests."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from lockgate.cache.semantic.embedder import CallableEmbedder


def table_embedder(vectors: Mapping[str, list[float]]) -> CallableEmbedder:
    """An embedder that looks texts up in a table, so scores are known exactly."""
    dim = len(next(iter(vectors.values())))

    async def fn(texts: list[str]) -> np.ndarray:
        return np.array([vectors[t] for t in texts], dtype=np.float32)

    return CallableEmbedder(fn, dim)


def unit(*parts: float) -> list[float]:
    """A vector normalised to length one."""
    arr = np.array(parts, dtype=np.float64)
    return list(arr / np.linalg.norm(arr))
