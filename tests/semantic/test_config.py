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


def test_error_budget_and_live_sampling_per_alias() -> None:
    """max_false_hit_rate, verify_sample_rate and verifier inherit and override like the rest."""
    s = SemanticCacheSettings.model_validate(
        {
            "max_false_hit_rate": 0.02,
            "verify_sample_rate": 0.05,
            "aliases": {
                "fast": {},
                "strict": {"max_false_hit_rate": 0.005, "verify_sample_rate": 0.0},
                "legacy": {"verifier": False},
            },
        }
    )
    a = s.alias_settings()
    assert (a["fast"].max_false_hit_rate, a["fast"].verify_sample_rate) == (0.02, 0.05)
    assert (a["strict"].max_false_hit_rate, a["strict"].verify_sample_rate) == (0.005, 0.0)
    assert a["fast"].verifier and not a["legacy"].verifier
    assert SemanticCacheSettings().section_settings().max_false_hit_rate == 0.01
    with pytest.raises(ValidationError):
        SemanticCacheSettings.model_validate({"aliases": {"a": {"max_false_hit_rate": 1.5}}})
    with pytest.raises(ValidationError):
        SemanticCacheSettings.model_validate({"verify_sample_rate": -0.1})


def test_custom_verifier_weights_are_loaded_and_checked(tmp_path) -> None:
    """verifier_weights names a JSON from bench/train_verifier.py; a broken one stops start-up."""
    from importlib import resources

    from lockgate.cache.semantic.verifier import VerifierError

    good = tmp_path / "v.json"
    shipped = resources.files("lockgate.cache.semantic").joinpath("verifier.json").read_text()
    good.write_text(shipped)
    settings = {"embedder": "gateway", "embedding_dim": 4, "aliases": {"a": {}}}
    stage = build_semantic_stage(
        SemanticCacheSettings.model_validate({**settings, "verifier_weights": str(good)}),
        embed_fn=embed,
        dim=4,
    )
    assert stage.cache.verifier is not None
    # the gateway embedder yields no token vectors: lookups fall back to threshold + guards
    assert not stage.cache.verifies(stage.aliases["a"])
    bad = tmp_path / "bad.json"
    bad.write_text('{"kind": "mlp"}')
    with pytest.raises(VerifierError):
        build_semantic_stage(
            SemanticCacheSettings.model_validate({**settings, "verifier_weights": str(bad)}),
            embed_fn=embed,
            dim=4,
        )
