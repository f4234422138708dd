"""The batch runner on a real SQLite store: batch lines wait while interactive traffic
is above the threshold, then all run, each once."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.batches.support import NOW, new_batch

from lockgate.batches.config import BatchSettings
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

    async def execute(line: Claimed) -> Outcome:
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

    async def execute(line: Claimed) -> Outcome:
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
