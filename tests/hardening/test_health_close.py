"""DependencyMonitor.aclose is bounded: a probe that loses its cancellation cannot hold up
shutdown (a CI run's replica sat in shutdown for good, its monitor task "cancelling" forever)."""

from __future__ import annotations

import asyncio

from lockgate.health import DependencyMonitor


async def test_a_probe_that_swallows_its_cancellation_does_not_block_shutdown() -> None:
    never = asyncio.Event()
    entered = asyncio.Event()
    closed: list[bool] = []

    async def stubborn() -> bool:
        entered.set()
        try:
            await never.wait()
        except asyncio.CancelledError:
            await never.wait()  # the cancellation is lost here, as a client may lose it
        return True

    class Probe:
        async def __call__(self) -> bool:
            return await stubborn()

        async def aclose(self) -> None:
            closed.append(True)

    monitor = DependencyMonitor({"dep": Probe()}, interval=0.01, timeout=3600)
    monitor._task = asyncio.create_task(monitor._run())  # the loop start() begins
    await asyncio.wait_for(entered.wait(), 30)
    # a hang guard, not a timing claim: before the fix this never returned
    await asyncio.wait_for(monitor.aclose(wait=0.05), 30)
    assert closed == [True]  # the probes were closed after all
    leftover = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert len(leftover) == 1 and not leftover[0].done()
    never.set()  # release the stubborn probe and cancel again: nothing left running
    leftover[0].cancel()
    await asyncio.wait_for(asyncio.gather(*leftover, return_exceptions=True), 30)


async def test_a_monitor_that_stops_promptly_is_closed_as_before() -> None:
    calls = 0

    async def probe() -> bool:
        nonlocal calls
        calls += 1
        return True

    monitor = DependencyMonitor({"dep": probe}, interval=0.01)
    await monitor.start()
    for _ in range(300):  # bounded: until the background loop probed again
        if calls >= 3:
            break
        await asyncio.sleep(0.01)
    assert calls >= 3
    await asyncio.wait_for(monitor.aclose(), 30)
    settled = calls
    await asyncio.sleep(0.05)
    assert calls == settled  # no probing after close
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []
