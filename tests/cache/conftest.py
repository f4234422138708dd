"""Fixtures of the cache tests."""

from __future__ import annotations

import pytest
from tests.cache.cache_samples import ManualClock


@pytest.fixture()
def clock() -> ManualClock:
    """A fresh manual clock."""
    return ManualClock()
