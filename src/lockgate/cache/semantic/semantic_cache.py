"""The semantic cache: embed the question, search its partition, verify, serve.

Lookup flow for one request (see ``partition.semantic_query`` for what a
query is):

1. embed the last user turn (one call to the ``Embedder``; with the verifier,
   the same forward pass also yields its token vectors);
2. ask the ``VectorIndex`` for the ``top_k`` nearest live entries of the
   partition;
3. with the learned verifier (default): of the (at most ``verify_top``)
   candidates whose cosine is above the verifier's recall floor, drop those a
   hard-veto guard rejects and judge rewordings on their cosine (text-only
   tests, no model); score the near copies with the model at the operating
   point of the alias's error budget, from their token vectors kept since
   their own lookup (``TokenStore``); a near copy whose vectors are gone is
   embedded, at most ``cold_embeds`` of them per lookup (the rest are not
   served, so a lookup costs at most two forward passes); serve the most
   similar candidate that passes. A lookup with no candidate above the floor costs
   nothing more.
   Without it: walk the candidates best first, stop at the first below
   ``threshold``, skip one that a near-miss guard rejects, take the first that
   passes;
4. in shadow mode report the would-be hit (``served=False, shadow=True``) and
   fetch nothing; otherwise fetch the payload and serve it.

The result always carries the score and the query's vector so that a miss can
be stored afterwards without embedding the text a second time.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from lockgate.cache.semantic.embedder import Embedder, LocalEmbedder, TokenEmbedder, TokenVectors
from lockgate.cache.semantic.guards import GUARDS, Features, GuardName, extract_features, near_miss
from lockgate.cache.semantic.index import Candidate, VectorIndex
from lockgate.cache.semantic.partition import SemanticQuery
from lockgate.cache.semantic.redis_index import RedisIndex
from lockgate.cache.semantic.tokenstore import TokenStore
from lockgate.cache.semantic.verifier import (
    OperatingPoint,
    Verifier,
    differing_words,
    pair_features,
)

__all__ = ["SemanticCache", "SemanticResult", "SemanticSettings"]

_FEATURE_CACHE = 16_384  # texts whose guard features are kept (LRU)

F32 = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class SemanticSettings:
    """Per-alias semantic cache policy.

    With ``verifier`` on (and a cache built with a verifier and a token
    embedder) hits are decided by the learned verifier at the operating point
    of ``max_false_hit_rate``; ``threshold`` and ``guards`` apply only without
    it. ``threshold`` is a cosine similarity of all-MiniLM-L6-v2 vectors
    (other embedders need their own calibration: run ``lockgate cache eval``).
    ``verify_sample_rate`` is the share of served hits also sent upstream to
    estimate the live false-hit rate (see ``live``).
    """

    threshold: float = 0.90
    guards: tuple[GuardName, ...] = tuple(GUARDS)
    shadow: bool = False
    ttl_seconds: float = 3600.0
    top_k: int = 4
    max_query_chars: int = 2000
    verifier: bool = True
    max_false_hit_rate: float = 0.01
    verify_top: int = 3
    verify_sample_rate: float = 0.0

    def __post_init__(self) -> None:
        if not -1.0 <= self.threshold <= 1.0:
            raise ValueError("threshold must be a cosine similarity in [-1, 1]")
        if not 0.0 <= self.max_false_hit_rate <= 1.0:
            raise ValueError("max_false_hit_rate must be in [0, 1]")
        if not 0.0 <= self.verify_sample_rate <= 1.0:
            raise ValueError("verify_sample_rate must be in [0, 1]")
        if not 1 <= self.verify_top <= 3:
            raise ValueError("verify_top must be 1, 2 or 3")
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
    #: the verifier's probability for the served (or best rejected) candidate
    probability: float | None = None
    #: ``entry_id`` names a candidate that the looser ``probe`` point of the lookup
    #: accepts and the serving point does not (not served; the stage compares answers)
    probe: bool = False

    @property
    def would_hit(self) -> bool:
        """A hit was found, whether or not it was served."""
        return self.entry_id is not None


class SemanticCache:
    """Ties an embedder, an index, a verifier and settings together; no state of its own."""

    def __init__(
        self,
        embedder: Embedder,
        index: VectorIndex,
        settings: SemanticSettings,
        verifier: Verifier | None = None,
        *,
        token_cache_bytes: int = 256 << 20,
        cold_embeds: int = 1,
        share_token_bytes: int = 12 << 10,
    ) -> None:
        self.embedder = embedder
        self.index = index
        self.settings = settings
        self.verifier = verifier
        # Token vectors of the entries' texts (a stored miss was looked up first), int8:
        # embedding a near-copy candidate again would be most of a lookup's cost.
        self.tokens = TokenStore(token_cache_bytes)
        # Those of questions just looked up, until their answer is stored (then they
        # move to ``tokens``): a served hit's question never becomes an entry, and
        # keeping it there would evict an entry's vectors.
        self.recent = TokenStore(max(1 << 20, token_cache_bytes // 16))
        #: near copies embedded per lookup when their token vectors are not kept
        self.cold_embeds = cold_embeds
        #: a stored entry's token vectors go with it to an index shared by replicas
        #: (Redis) when they take at most this many bytes (388 per token + 772; 0: never)
        self.share_token_bytes = share_token_bytes
        if isinstance(index, RedisIndex):
            index.tokens_received = self.tokens.put_bytes
        # The guards' view of recent texts (a few hundred bytes each): extracting
        # it is a third of the verifier's cost, and candidates come back often.
        self._features: OrderedDict[str, Features] = OrderedDict()

    def watch_load(self, in_flight: Callable[[], int]) -> None:
        """``in_flight``: how many requests this worker handles now. A local embedder
        runs short forward passes on the event loop only while there are few."""
        if isinstance(self.embedder, LocalEmbedder):
            self.embedder.in_flight = in_flight

    def verifies(self, settings: SemanticSettings) -> bool:
        """Whether lookups with ``settings`` are decided by the learned verifier."""
        return (
            settings.verifier
            and self.verifier is not None
            and isinstance(self.embedder, TokenEmbedder)
        )

    async def lookup(
        self,
        query: SemanticQuery,
        *,
        now: float,
        settings: SemanticSettings | None = None,
        accept: OperatingPoint | None = None,
        probe: OperatingPoint | None = None,
    ) -> SemanticResult:
        """Find a cached answer for ``query``; ``settings`` overrides the default per call.

        ``accept`` is a stricter operating point than the alias's budget gives
        (the stage passes one when live verification found the budget broken);
        ``probe`` a looser one: when no candidate is served and one passes
        ``probe``, the result names it with ``probe=True``.
        """
        s = settings or self.settings
        if isinstance(self.index, RedisIndex):
            # the index's round trip (new entries of other replicas) overlaps the embedding
            self.index.begin_sync(now=now)
            await asyncio.sleep(0)
        if self.verifies(s):
            return await self._verified_lookup(
                query, now=now, settings=s, accept=accept, probe=probe
            )
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

    async def _verified_lookup(
        self,
        query: SemanticQuery,
        *,
        now: float,
        settings: SemanticSettings,
        accept: OperatingPoint | None,
        probe: OperatingPoint | None = None,
    ) -> SemanticResult:
        assert self.verifier is not None and isinstance(self.embedder, TokenEmbedder)
        point = self.verifier.operating_point(settings.max_false_hit_rate).stricter(accept)
        (mine,) = await self.embedder.embed_tokens([query.text])
        # A miss is stored under this text: when it is a candidate later, its
        # token vectors are already here and the verifier embeds nothing more.
        self._remember(query.text, mine)
        vector = mine.sentence
        candidates = await self.index.search(
            query.partition, vector, k=max(settings.top_k, settings.verify_top), now=now
        )
        best = candidates[0].score if candidates else 0.0
        above = [c for c in candidates if c.score >= point.recall][: settings.verify_top]
        if not above:
            return SemanticResult(served=False, shadow=settings.shadow, score=best, vector=vector)
        # Text-only tests first: a vetoed pair is out, a rewording is judged on its
        # cosine, and only near copies need the model, i.e. the candidates' token
        # vectors (kept in ``self.tokens``; embedded, at most ``cold_embeds``, when not).
        mine_f = self._features_of(query.text)
        kept = [
            c for c in above if not self.verifier.vetoes_pair(mine_f, self._features_of(c.text))
        ]
        near = [
            c for c in kept if self.verifier.needs_model(mine_f, self._features_of(c.text), point)
        ]
        probs: dict[str, float] = {}
        probe_passed: set[str] = set()
        needs_model = {c.id for c in near}  # judged by the model or not at all
        if near:
            near, theirs = await self._candidate_tokens(near)
        if near:
            rows, differing = self._pair_rows(query.text, mine, near, theirs)
            p = self.verifier.probability(rows)
            # the very same question in the same partition is the same request (what
            # the exact cache would serve): certain, though the network, which never
            # saw identical pairs in training, gives it ~0.96
            p = np.where([c.text == query.text for c in near], 1.0, p)
            ok = self.verifier.accepts(rows, differing, point, p)
            probs = {c.id: float(pc) for c, pc in zip(near, p.tolist(), strict=True)}
            passed = {c.id for c, good in zip(near, ok.tolist(), strict=True) if good}
            if probe is not None:
                ok = self.verifier.accepts(rows, differing, probe, p)
                probe_passed = {c.id for c, good in zip(near, ok.tolist(), strict=True) if good}
        else:
            passed = set()
        reworded = point.accept_reworded
        marginal: Candidate | None = None  # the first candidate only ``probe`` accepts
        for cand in kept:
            if cand.id in needs_model:
                if cand.id not in passed:
                    if probe is not None and marginal is None and cand.id in probe_passed:
                        marginal = cand
                    continue
            elif reworded is None or cand.score < reworded:
                loose = probe.accept_reworded if probe is not None else None
                if marginal is None and loose is not None and cand.score >= loose:
                    marginal = cand
                continue
            prob = probs.get(cand.id)
            if settings.shadow:
                return SemanticResult(
                    served=False,
                    shadow=True,
                    score=cand.score,
                    vector=vector,
                    entry_id=cand.id,
                    matched_text=cand.text,
                    probability=prob,
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
                probability=prob,
            )
        if marginal is not None and not settings.shadow:
            return SemanticResult(
                served=False,
                shadow=False,
                score=marginal.score,
                vector=vector,
                entry_id=marginal.id,
                matched_text=marginal.text,
                rejected_by="verifier",
                probability=probs.get(marginal.id),
                probe=True,
            )
        return SemanticResult(
            served=False,
            shadow=settings.shadow,
            score=best,
            vector=vector,
            rejected_by="verifier",
            probability=max(probs.values()) if probs else None,
        )

    def _features_of(self, text: str) -> Features:
        features = self._features.get(text)
        if features is None:
            features = self._features[text] = extract_features(text)
            if len(self._features) > _FEATURE_CACHE:
                self._features.popitem(last=False)
        else:
            self._features.move_to_end(text)
        return features

    def _pair_rows(
        self, text: str, mine: TokenVectors, candidates: list[Candidate], theirs: list[TokenVectors]
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int_]]:
        """The verifier's feature rows and differing-word counts for each candidate."""
        features = self._features_of(text)
        theirs_features = [self._features_of(c.text) for c in candidates]
        rows = np.stack(
            [
                pair_features(mine, features, tv, fc)
                for tv, fc in zip(theirs, theirs_features, strict=True)
            ]
        )
        differing = np.asarray([differing_words(features, fc) for fc in theirs_features])
        return rows, differing

    def _remember(self, text: str, tokens: TokenVectors) -> None:
        if text in self.tokens:
            self.tokens.touch(text)  # an entry's text asked again
        else:
            self.recent.put(text, tokens)

    async def _candidate_tokens(
        self, candidates: list[Candidate]
    ) -> tuple[list[Candidate], list[TokenVectors]]:
        """The candidates whose token vectors are known or were embedded now (at most
        ``cold_embeds`` of them, best first), with those vectors."""
        assert isinstance(self.embedder, TokenEmbedder)
        known = {
            c.text: tv
            for c in candidates
            if (tv := self.tokens.get(c.text) or self.recent.get(c.text)) is not None
        }
        missing = [t for t in dict.fromkeys(c.text for c in candidates) if t not in known]
        missing = missing[: self.cold_embeds]
        if missing:
            fresh = await self.embedder.embed_tokens(missing)
            for text, tv in zip(missing, fresh, strict=True):
                known[text] = tv
                self.tokens.put(text, tv)  # a candidate is an entry
        kept = [c for c in candidates if c.text in known]
        return kept, [known[c.text] for c in kept]

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
        self.recent.move_to(query.text, self.tokens)  # an entry's vectors now
        tokens = self.tokens.to_bytes(query.text) if self.share_token_bytes else None
        if tokens is not None and len(tokens) > self.share_token_bytes:
            tokens = None
        return await self.index.add(
            query.partition, vector, query.text, payload, now=now, ttl=s.ttl_seconds, tokens=tokens
        )
