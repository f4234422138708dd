"""The batch runner on a real SQLite store: batch lines wait while interactive traffic
is above the threshold, then all run, each once."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from pathlib import Path

from tests.batches.support import NOW, new_batch

from lockgate.batches.config import BatchSettings
from lockgate.batches.journal import LeaseLost
from lockgate.batches.outcome import Outcome
from lockgate.batches.runner import BatchRunner
from lockgate.batches.store import BatchStore, Claimed
from lockgate.storage.database import Database


async def test_lines_yield_to_interactive_requests_then_all_run_once(tmp_path: Path) -> None:
    """With more interactive requests in flight than yield_above_inflight, lines are
    claimed and marked but none is sent; when traffic drops, every line runs once."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/b.db")
    await db.migrate()
    store = BatchStore(db, tmp_path / "files")
    batch_id = await new_batch(store, 10)
    calls: list[int] = []
    interactive = [100.0]

    async def execute(line: Claimed, holds: Callable[[], bool]) -> Outcome:
        calls.append(line.line_no)
        return Outcome(200, {"ok": line.line_no}, "r")

    cfg = BatchSettings(concurrency=4, yield_above_inflight=5, poll_seconds=0.02)
    runner = BatchRunner(store, execute, cfg, interactive_inflight=lambda: interactive[0])
    runner.start()
    try:
        for _ in range(500):  # bounded: until the runner holds marked lines
            if runner._primed:
                break
            await asyncio.sleep(0.01)
        assert runner._primed and calls == []
        interactive[0] = 0.0
        for _ in range(1000):
            batch = await store.get_batch(batch_id)
            if batch is not None and batch["status"] == "completed":
                break
            await asyncio.sleep(0.02)
        assert batch is not None and batch["status"] == "completed"
        assert sorted(calls) == list(range(1, 11))
    finally:
        await runner.stop()
        await db.aclose()


async def test_a_line_whose_lease_lapsed_while_alive_is_not_sent_by_its_old_holder(
    tmp_path: Path,
) -> None:
    """Replica A claims and marks lines, then holds them (interactive traffic) past its
    lease; replica B takes them over and sends them. When A may send again, it sends
    none of B's lines: a held line is marked again before it leaves, and a mark only
    takes on a line this replica still holds."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/b.db")
    await db.migrate()
    store = BatchStore(db, tmp_path / "files")
    await new_batch(store, 8)
    clock = [NOW]
    sent_by_a: list[int] = []
    interactive = [100.0]

    async def execute(line: Claimed, holds: Callable[[], bool]) -> Outcome:
        sent_by_a.append(line.line_no)
        return Outcome(200, {"ok": line.line_no}, "r")

    cfg = BatchSettings(
        concurrency=2, yield_above_inflight=5, poll_seconds=3600.0, lease_seconds=30.0
    )
    a = BatchRunner(
        store, execute, cfg, interactive_inflight=lambda: interactive[0], clock=lambda: clock[0]
    )
    a.start()
    try:
        for _ in range(500):  # bounded: until A holds marked lines (and others leased)
            if a._primed and a._ready:
                break
            await asyncio.sleep(0.01)
        held = {x.line_no for x in (*a._primed, *a._ready)}
        assert a._primed and sent_by_a == []
        # A stays alive but its lease lapses (a long pause); B takes the lines over
        clock[0] += 31.0
        taken = await store.claim("B", 100, clock[0], 30.0)
        assert {x.line_no for x in taken} >= held
        interactive[0] = 0.0
        a.wake()
        for _ in range(300):  # bounded: until A has let go of every line it held
            if not (a._primed or a._ready or a._running):
                break
            await asyncio.sleep(0.01)
        assert not (a._primed or a._ready or a._running)
        assert sent_by_a == []
    finally:
        await a.stop()
        await db.aclose()


async def test_a_line_whose_lease_lapsed_on_its_way_is_not_sent_and_is_given_back(
    tmp_path: Path,
) -> None:
    """The process pauses past the lease while a line is on its way (after it started,
    before its request leaves), and its loop renews its leases before the line goes on.
    The line must not be sent: another replica may have taken it meanwhile. It is given
    back, claimed again, and then sent once."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/b.db")
    await db.migrate()
    store = BatchStore(db, tmp_path / "files")
    batch_id = await new_batch(store, 1)
    clock = [NOW]
    seen: list[bool] = []
    cfg = BatchSettings(concurrency=1, poll_seconds=3600.0, lease_seconds=30.0)

    async def execute(line: Claimed, holds: Callable[[], bool]) -> Outcome:
        seen.append(holds())  # the walk begins: the lease holds
        if len(seen) == 1:
            clock[0] += 31.0  # a pause longer than the lease
            runner.wake()  # the loop runs first after the pause, and renews
            for _ in range(200):  # bounded: until that renewal happened
                if runner._renewed_at == clock[0]:
                    break
                await asyncio.sleep(0.01)
            assert runner._renewed_at == clock[0]
        seen.append(holds())  # the request would leave now
        if not seen[-1]:
            raise LeaseLost(line.batch_id, line.line_no)
        return Outcome(200, {"ok": line.line_no}, "r")

    runner = BatchRunner(store, execute, cfg, clock=lambda: clock[0])
    runner.start()
    try:
        for _ in range(500):  # bounded: until the line is given back, run again and stored
            batch = await store.get_batch(batch_id)
            if batch is not None and batch["status"] == "completed":
                break
            await asyncio.sleep(0.02)
        assert batch is not None and batch["status"] == "completed"
        # first run: held at the start, not after the pause (not sent); second run: sent
        assert seen == [True, False, True, True]
        assert runner.lease_lost == 1
    finally:
        await runner.stop()
        await db.aclose()


async def test_holds_needs_a_third_of_the_lease_left_since_the_mark(tmp_path: Path) -> None:
    """Without a renewal, a marked line is held until two thirds of its lease have
    passed since its mark; an unmarked line is never refused."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/b.db")
    await db.migrate()
    store = BatchStore(db, tmp_path / "files")
    clock = [NOW]

    async def execute(line: Claimed, holds: Callable[[], bool]) -> Outcome:
        raise AssertionError("no line runs here")

    runner = BatchRunner(store, execute, BatchSettings(lease_seconds=30.0), clock=lambda: clock[0])
    line = Claimed("batch_x", 1, "c1", {}, 1, None, "/v1/chat/completions")
    marked = dataclasses.replace(line, send_by=NOW + 15.0)  # marked at NOW
    assert runner.holds(line) and runner.holds(marked)
    clock[0] = NOW + 19.9
    assert runner.holds(marked)
    clock[0] = NOW + 20.0
    assert not runner.holds(marked)
    assert runner.holds(line)
    await db.aclose()
