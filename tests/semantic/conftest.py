"""Fixtures of the semantic cache tests: one local embedder per session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lockgate.cache.semantic.embedder import LocalEmbedder


@pytest.fixture(scope="session")
def local_embedder() -> Iterator[LocalEmbedder]:
    """all-MiniLM-L6-v2 loaded once: reading 90 MB of weights per test would be slow."""
    yield LocalEmbedder()
