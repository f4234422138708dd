"""The ``semantic_cache:`` config section (pydantic only: cheap to import from settings)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from lockgate.cache.semantic.semantic_cache import SemanticSettings

#: the local embedder's implementation (see lockgate.cache.semantic.embedder)
Backend = Literal["onnx", "onnx-int8", "numpy"]
#: the local embedder's encoder (see lockgate.cache.semantic.encoders)
EncoderName = Literal["all-MiniLM-L6-v2", "paraphrase-MiniLM-L3-v2"]
#: the semantic cache's default encoder: 3 layers, half the forward pass of the L6, the
#: same natural-paraphrase quality (docs/notes/2026-11-29-s11/scmodel.md)
CACHE_ENCODER: EncoderName = "paraphrase-MiniLM-L3-v2"

__all__ = ["AliasSemanticSettings", "SemanticCacheSettings"]


class AliasSemanticSettings(BaseModel):
    """Per-alias overrides; unset fields inherit the section's values."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    threshold: float | None = Field(default=None, ge=-1.0, le=1.0)
    guards: Literal["all"] | list[str] | None = None
    ttl: float | None = Field(default=None, gt=0)
    shadow: bool | None = None
    verifier: bool | None = None
    max_false_hit_rate: float | None = Field(default=None, ge=0.0, le=1.0)
    verify_sample_rate: float | None = Field(default=None, ge=0.0, le=1.0)


class SemanticCacheSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    index: str = "memory://"
    capacity: int = Field(default=100_000, ge=1)
    embedder: Literal["local", "gateway"] = "local"
    #: the local embedder's encoder; the shipped verifier matches each (model, backend)
    model: EncoderName = CACHE_ENCODER
    #: int8 (default) halves the forward pass; the shipped verifier matches each backend
    backend: Backend = "onnx-int8"
    threshold: float = Field(default=0.90, ge=-1.0, le=1.0)
    guards: Literal["all"] | list[str] = "all"
    ttl: float = Field(default=3600.0, gt=0)
    shadow: bool = False
    #: the learned verifier decides hits (threshold and guards then apply only without it)
    verifier: bool = True
    #: a verifier trained with bench/train_verifier.py; default: the one shipped in the package
    verifier_weights: str | None = None
    #: the share of served hits that may be wrong (the verifier's operating point)
    max_false_hit_rate: float = Field(default=0.01, ge=0.0, le=1.0)
    #: the share of served hits also sent upstream to estimate the live false-hit rate
    verify_sample_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    #: cosine of the cached and the fresh answer at or above which they agree
    answer_agreement: float = Field(default=0.80, ge=-1.0, le=1.0)
    #: an alias of this gateway that judges the two answers instead (replies "same"/"different")
    judge_model: str | None = None
    #: token vectors kept for the verifier (int8, ~7 kB a question; an entry whose
    #: vectors are gone costs its lookup a forward pass)
    token_store_mb: int = Field(default=256, ge=1)
    #: a local embedder's call of at most this many tokens (96: a question of ~75 words,
    #: ~11 ms of int8 CPU) runs on the event loop instead of a worker thread: two thread
    #: wake-ups add ~5 ms to a lookup's P99 on a busy box; 0: always a worker thread
    inline_embed_tokens: int = Field(default=96, ge=0)
    #: ... and only while this gateway worker handles at most this many requests (the
    #: lookup's own included): under load a forward pass on the loop makes every other
    #: request of the worker wait for it. 0: inline whatever the load
    inline_max_in_flight: int = Field(default=1, ge=0)
    #: with a Redis index, an entry's token vectors go with it when they take at most this
    #: many kB (388 B a token: 12 kB ~ 29 tokens), so other replicas need no forward pass
    #: for it; Redis then holds up to capacity x this much more. 0: never
    share_token_kb: int = Field(default=12, ge=0)
    top_k: int = Field(default=4, ge=1)
    max_query_chars: int = Field(default=2000, ge=1)
    aliases: dict[str, AliasSemanticSettings] = Field(default_factory=dict)
    #: with embedder "gateway": the embeddings alias of this gateway to use, and its width
    embedding_model: str | None = None
    embedding_dim: int | None = Field(default=None, gt=0)

    def section_settings(self) -> SemanticSettings:
        """The section's own settings (what an alias without overrides gets)."""
        from lockgate.cache.semantic.guards import GUARDS
        from lockgate.cache.semantic.semantic_cache import SemanticSettings

        return SemanticSettings(
            threshold=self.threshold,
            guards=tuple(GUARDS) if self.guards == "all" else tuple(self.guards),
            shadow=self.shadow,
            ttl_seconds=self.ttl,
            top_k=self.top_k,
            max_query_chars=self.max_query_chars,
            verifier=self.verifier,
            max_false_hit_rate=self.max_false_hit_rate,
            verify_sample_rate=self.verify_sample_rate,
        )

    def alias_settings(self) -> dict[str, SemanticSettings]:
        """The effective ``SemanticSettings`` of each opted-in alias."""
        from lockgate.cache.semantic.guards import GUARDS
        from lockgate.cache.semantic.semantic_cache import SemanticSettings

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
                verifier=_pick(o.verifier, self.verifier),
                max_false_hit_rate=_pick(o.max_false_hit_rate, self.max_false_hit_rate),
                verify_sample_rate=_pick(o.verify_sample_rate, self.verify_sample_rate),
            )
        return out


_T = TypeVar("_T")


def _pick(override: _T | None, default: _T) -> _T:
    return default if override is None else override
