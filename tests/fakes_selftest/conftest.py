"""Fixtures for the fake upstream's own tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from tests.fakes import FakeUpstream


@pytest.fixture
async def fake() -> AsyncIterator[FakeUpstream]:
    """A started fake upstream, stopped after the test."""
    async with FakeUpstream() as upstream:
        yield upstream
