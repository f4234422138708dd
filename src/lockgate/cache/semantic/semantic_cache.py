"""The semantic cache: embed the question, search its partition, guard, serve.

Lookup flow for one request (see ``partition.semantic_query`` for what a
query is):

1. embed the last user turn (one call to the ``Embedder``);
2. ask the ``VectorIndex`` for the ``top_k`` nearest live entries of the
   partition;
3. walk them best first: stop at the first below ``threshold``; skip one that a
   near-miss guard rejects; take the first that passes;
4. in shadow mode report the would-be hit (``served=False, shadow=True``) and
   fetch nothing; otherwise fetch the payload and serve it.

The result always carries the score and the query's vector so that a miss can
be stored afterwards without embedding the text a second time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from lockgate.cache.semantic.embedder import Embedder
from lockgate.cache.semantic.guards import GUARDS, GuardName, extract_features, near_miss
from lockgate.cache.semantic.index import VectorIndex
from lockgate.cache.semantic.partition import SemanticQuery

__all__ = ["SemanticCache", "SemanticResult", "SemanticSettings"]

F32 = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class SemanticSettings:
    """Per-alias semantic cache policy.

    ``threshold`` is a cosine similarity of all-MiniLM-L6-v2 vectors (other
    embedders need their own calibration: run ``lockgate cache eval``).
    """

    threshold: float = 0.90
    guards: tuple[GuardName, ...] = tuple(GUARDS)
    shadow: bool = False
    ttl_seconds: float = 3600.0
    top_k: int = 4
    max_query_chars: int = 2000

    def __post_init__(self) -> None:
        if not -1.0 <= self.threshold <= 1.0:
            raise ValueError("threshold must be a cosine similarity in [-1, 1]")
        unknown = set(self.guards) - set(GUARDS)
        if unknown:
            raise ValueError(f"unknown near-miss guards: {sorted(unknown)}")
        if self.top_k < 1:
            raise ValueError("top_k must be at least 1")
        if self.ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")


@dataclass(frozen=True, slots=True)
class SemanticResult:
    """What a lookup found.

    ``served`` is true only when ``payload`` holds an answer to return.
    ``shadow`` marks a lookup made in shadow mode; with ``entry_id`` set it is
    a would-be hit that was not served. ``score`` is the best similarity seen
    (0.0 when the partition was empty), ``rejected_by`` the guard that vetoed
    the best candidate above the threshold, if any.
    """

    served: bool
    shadow: bool
    score: float
    vector: F32 = field(repr=False)
    payload: bytes | None = None
    entry_id: str | None = None
    matched_text: str | None = None
    rejected_by: GuardName | None = None

    @property
    def would_hit(self) -> bool:
        """A hit was found, whether or not it was served."""
        return self.entry_id is not None


class SemanticCache:
    """Ties an embedder, an index and settings together; no state of its own."""

    def __init__(self, embedder: Embedder, index: VectorIndex, settings: SemanticSettings) -> None:
        self.embedder = embedder
        self.index = index
        self.settings = settings

    async def lookup(
        self, query: SemanticQuery, *, now: float, settings: SemanticSettings | None = None
    ) -> SemanticResult:
        """Find a cached answer for ``query``; ``settings`` overrides the default per call."""
        s = settings or self.settings
        vector = (await self.embedder.embed([query.text]))[0]
        candidates = await self.index.search(query.partition, vector, k=s.top_k, now=now)
        best = candidates[0].score if candidates else 0.0
        features = None
        rejected_by: GuardName | None = None
        for cand in candidates:
            if cand.score < s.threshold:
                break
            if s.guards:
                features = features or extract_features(query.text)
                reason = near_miss(features, extract_features(cand.text), s.guards)
                if reason is not None:
                    rejected_by = rejected_by or reason
                    continue
            if s.shadow:
                return SemanticResult(
                    served=False,
                    shadow=True,
                    score=cand.score,
                    vector=vector,
                    entry_id=cand.id,
                    matched_text=cand.text,
                    rejected_by=rejected_by,
                )
            payload = await self.index.fetch(query.partition, cand.id, now=now)
            if payload is None:
                continue
            return SemanticResult(
                served=True,
                shadow=False,
                score=cand.score,
                vector=vector,
                payload=payload,
                entry_id=cand.id,
                matched_text=cand.text,
                rejected_by=rejected_by,
            )
        return SemanticResult(
            served=False, shadow=s.shadow, score=best, vector=vector, rejected_by=rejected_by
        )

    async def store(
        self,
        query: SemanticQuery,
        payload: bytes,
        *,
        now: float,
        vector: F32 | None = None,
        settings: SemanticSettings | None = None,
    ) -> str:
        """Remember ``payload`` as the answer to ``query``; pass the lookup's vector."""
        s = settings or self.settings
        if vector is None:
            vector = (await self.embedder.embed([query.text]))[0]
        return await self.index.add(
            query.partition, vector, query.text, payload, now=now, ttl=s.ttl_seconds
        )
