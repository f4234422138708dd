"""The package's public names stay in step with its modules."""

from __future__ import annotations

import importlib

import lockgate.cache.semantic as semantic

MODULES = [
    "config",
    "embedder",
    "encoders",
    "eval",
    "guards",
    "index",
    "lexicon",
    "minilm",
    "minilm_onnx",
    "partition",
    "redis_index",
    "semantic_cache",
    "stage",
    "tokenstore",
]


def test_every_exported_name_exists() -> None:
    """Each name in each module's __all__ (and the package's) is defined."""
    for name in MODULES:
        module = importlib.import_module(f"lockgate.cache.semantic.{name}")
        for member in module.__all__:
            assert hasattr(module, member), f"{name}.{member}"
    for member in semantic.__all__:
        assert hasattr(semantic, member), member
