"""Fixtures of the semantic cache tests: one local embedder per session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lockgate.cache.semantic.embedder import LocalEmbedder
from lockgate.cache.semantic.settings import CACHE_ENCODER


@pytest.fixture(scope="session")
def local_embedder() -> Iterator[LocalEmbedder]:
    """The semantic cache's default encoder (paraphrase-MiniLM-L3-v2) on ONNX Runtime,
    int8 as the cache runs it by default, loaded once: reading the weights and a
    quantisation per test would be slow."""
    yield LocalEmbedder(model=CACHE_ENCODER, backend="onnx-int8")


@pytest.fixture(scope="session")
def l6_int8_embedder() -> Iterator[LocalEmbedder]:
    """all-MiniLM-L6-v2, int8 (the cache's encoder before session 11; the router's model)."""
    yield LocalEmbedder(backend="onnx-int8")


@pytest.fixture(scope="session")
def onnx_embedder() -> Iterator[LocalEmbedder]:
    """The float32 model on ONNX Runtime (the reference vectors)."""
    yield LocalEmbedder()


@pytest.fixture(scope="session")
def numpy_embedder() -> Iterator[LocalEmbedder]:
    """The same model on the numpy forward pass."""
    yield LocalEmbedder(backend="numpy")
