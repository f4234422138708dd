"""stop_tasks bounds every shutdown wait on a background task (session 11: a replica sat in
shutdown for good, one task "cancelling" on a future that never completed)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

import pytest

from lockgate.prompts.registry import PromptRegistry
from lockgate.task_stop import stop_tasks


async def _stubborn(entered: asyncio.Event, never: asyncio.Event) -> None:
    entered.set()
    try:
        await never.wait()
    except asyncio.CancelledError:
        await never.wait()  # the cancellation is lost here


async def test_a_task_that_loses_its_cancellation_is_left_after_the_wait(
    caplog: pytest.LogCaptureFixture,
) -> None:
    entered, never = asyncio.Event(), asyncio.Event()
    stubborn = asyncio.create_task(_stubborn(entered, never))
    polite = asyncio.create_task(asyncio.sleep(3600))
    await asyncio.wait_for(entered.wait(), 30)
    with caplog.at_level(logging.WARNING, logger="lockgate.shutdown"):
        # a hang guard, not a timing claim: without the bound this never returns
        ended = await asyncio.wait_for(stop_tasks([stubborn, polite, None], "test", 0.05), 30)
    assert ended is False
    assert polite.cancelled() and not stubborn.done()
    assert "test: 1 task(s) still running" in caplog.text
    never.set()
    stubborn.cancel()
    await asyncio.gather(stubborn, return_exceptions=True)


async def test_tasks_that_stop_end_cleanly_and_errors_are_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def fails_on_cancel() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            raise RuntimeError("closing went wrong") from None

    failing = asyncio.create_task(fails_on_cancel())
    polite = asyncio.create_task(asyncio.sleep(3600))
    await asyncio.sleep(0)
    with caplog.at_level(logging.WARNING, logger="lockgate.shutdown"):
        assert await stop_tasks([failing, polite], "pair") is True
    assert polite.cancelled() and failing.done()
    assert "pair ended with RuntimeError('closing went wrong')" in caplog.text
    assert await stop_tasks([], "nothing") is True


async def test_the_callers_own_cancellation_still_propagates() -> None:
    entered, never = asyncio.Event(), asyncio.Event()
    stubborn = asyncio.create_task(_stubborn(entered, never))
    await asyncio.wait_for(entered.wait(), 30)
    closer = asyncio.create_task(stop_tasks([stubborn], "test", 3600))
    await asyncio.sleep(0.01)
    closer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(closer, 30)
    never.set()
    stubborn.cancel()
    await asyncio.gather(stubborn, return_exceptions=True)


async def test_a_package_close_is_bounded_by_it() -> None:
    """PromptRegistry.aclose, one of the users: its refresh task losing its cancellation
    no longer holds up close."""
    entered, never = asyncio.Event(), asyncio.Event()
    registry = PromptRegistry(cast(Any, None), cast(Any, None))  # close needs no storage
    registry._task = asyncio.create_task(_stubborn(entered, never))
    await asyncio.wait_for(entered.wait(), 30)
    left = registry._task
    # the registry's bound is STOP_WAIT_S (2 s); the guard is 30 s: before, this hung
    await asyncio.wait_for(registry.aclose(), 30)
    assert registry._task is None and not left.done()
    never.set()
    left.cancel()
    await asyncio.gather(left, return_exceptions=True)
