"""The semantic_cache config section and building the stage from it."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from lockgate.cache.semantic.config import SemanticCacheSettings, build_semantic_stage
from lockgate.cache.semantic.index import MemoryIndex
from lockgate.cache.semantic.redis_index import RedisIndex


async def embed(texts: list[str]) -> np.ndarray:
    """A stand-in for an embeddings alias of the gateway."""
    return np.ones((len(texts), 4), dtype=np.float32)


def test_aliases_inherit_and_override() -> None:
    """Unset alias fields take the section's values; set ones win."""
    s = SemanticCacheSettings.model_validate(
        {
            "threshold": 0.9,
            "shadow": True,
            "aliases": {"fast": {}, "strict": {"threshold": 0.95, "guards": ["numbers"]}},
        }
    )
    aliases = s.alias_settings()
    assert set(aliases) == {"fast", "strict"}
    assert aliases["fast"].threshold == 0.9 and aliases["fast"].shadow
    assert len(aliases["fast"].guards) > 1
    assert aliases["strict"].threshold == 0.95 and aliases["strict"].guards == ("numbers",)


def test_bad_values_are_refused() -> None:
    """Unknown fields, guards and index URLs fail when the config is built."""
    with pytest.raises(ValidationError):
        SemanticCacheSettings.model_validate({"treshold": 0.9})
    bad_guard = SemanticCacheSettings.model_validate({"aliases": {"a": {"guards": ["typo"]}}})
    with pytest.raises(ValueError, match="guards"):
        bad_guard.alias_settings()
    with pytest.raises(ValueError, match="unsupported"):
        build_semantic_stage(
            SemanticCacheSettings(embedder="gateway", index="sqlite://"), embed_fn=embed, dim=4
        )
    with pytest.raises(ValueError, match="embed_fn"):
        build_semantic_stage(SemanticCacheSettings(embedder="gateway"))


async def test_builds_memory_and_redis_stages(redis_url: str) -> None:
    """The index is chosen by URL; a gateway embedder is wrapped and normalised."""
    memory = build_semantic_stage(
        SemanticCacheSettings(embedder="gateway", aliases={"fast": {}}), embed_fn=embed, dim=4
    )
    assert isinstance(memory.cache.index, MemoryIndex)
    assert set(memory.aliases) == {"fast"}
    vectors = await memory.cache.embedder.embed(["x"])
    np.testing.assert_allclose(vectors, [[0.5, 0.5, 0.5, 0.5]])
    shared = build_semantic_stage(
        SemanticCacheSettings(embedder="gateway", index=redis_url), embed_fn=embed, dim=4
    )
    assert isinstance(shared.cache.index, RedisIndex)
    await shared.cache.index.close()
