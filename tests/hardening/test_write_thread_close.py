"""Closing the database while a poll it was running is cancelled mid-query (a gateway
shutting down: its pollers are cancelled, then ``Database.aclose``).

SQLAlchemy closes a cancelled connection in a shielded task on the write thread's loop;
the loop used to be stopped and closed before that task ended, so the driver's thread
(aiosqlite) posted its result to a closed loop: ``RuntimeError: Event loop is closed``
in a thread, or "Task was destroyed but it is pending", blamed on whichever test ran
next (tests/e2e/test_embed_batching.py under load).  The write thread now lets the
work on its loop finish before the loop ends.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.hardening.conftest import migrated

from lockgate.storage.database import Database

#: a query SQLite needs a while for (a recursive count), so the cancel lands mid-query
SLOW = sa.text(
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 5000000)"
    " SELECT count(*) FROM c"
)


def driver_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if "_connection_worker_thread" in repr(t)]


async def test_a_poll_cancelled_mid_query_then_close_leaves_no_loop_behind(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = await migrated(f"sqlite+aiosqlite:///{tmp_path}/close.db")
    failures: list[BaseException | None] = []
    previous = threading.excepthook
    threading.excepthook = lambda args: failures.append(args.exc_value)
    caplog.set_level(logging.ERROR, logger="asyncio")
    try:
        for _ in range(2):
            db = Database(url)
            started = threading.Event()  # set on the write thread

            async def slow(engine: AsyncEngine, started: threading.Event = started) -> int:
                async with engine.connect() as conn:
                    started.set()
                    return int((await conn.execute(SLOW)).scalar_one())

            poll = asyncio.create_task(db.poll(slow))
            assert await asyncio.to_thread(started.wait, 60)
            await asyncio.sleep(0.05)  # the query is running on the driver's thread
            poll.cancel()
            with pytest.raises(asyncio.CancelledError):
                await poll
            await db.aclose()
            for t in driver_threads():  # bounded: the query ends by itself
                t.join(60)
            gc.collect()
    finally:
        threading.excepthook = previous
    assert failures == []
    destroyed = [r.getMessage() for r in caplog.records if r.name == "asyncio"]
    assert destroyed == []
