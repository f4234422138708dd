"""Fixtures for the callback tests: HTTP receivers on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from tests.callbacks.receiver import Receiver


@pytest.fixture()
async def receiver_factory() -> AsyncIterator[Callable[[], Awaitable[Receiver]]]:
    """Start as many receivers as a test needs; all are stopped afterwards."""
    started: list[Receiver] = []

    async def start() -> Receiver:
        r = await Receiver().start()
        started.append(r)
        return r

    yield start
    for r in started:
        if r.hold is not None:
            r.hold.set()
        await r.stop()


@pytest.fixture()
async def receiver(receiver_factory: Callable[[], Awaitable[Receiver]]) -> Receiver:
    return await receiver_factory()
