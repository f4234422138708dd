"""Fixtures of the semantic cache tests: one local embedder per session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lockgate.cache.semantic.embedder import LocalEmbedder


@pytest.fixture(scope="session")
def local_embedder() -> Iterator[LocalEmbedder]:
    """all-MiniLM-L6-v2 on ONNX Runtime, int8 as the semantic cache runs it by default,
    loaded once: 90 MB of weights and a quantisation per test would be slow."""
    yield LocalEmbedder(backend="onnx-int8")


@pytest.fixture(scope="session")
def onnx_embedder() -> Iterator[LocalEmbedder]:
    """The float32 model on ONNX Runtime (the reference vectors)."""
    yield LocalEmbedder()


@pytest.fixture(scope="session")
def numpy_embedder() -> Iterator[LocalEmbedder]:
    """The same model on the numpy forward pass."""
    yield LocalEmbedder(backend="numpy")
