"""The usage writer: batches, bounded queue, retries, and nothing lost on close."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from tests.observability.records import record

from lockgate.records import RequestRecord
from lockgate.usage.writer import UsageWriter


class ListStore:
    """A batch store keeping batches in a list; can be told to fail the next N writes."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.fail_next = 0

    async def insert(self, records: Sequence[RequestRecord], packed: Sequence[bytes]) -> None:
        assert len(packed) == len(records)  # each record with its bytes for the writer
        if self.fail_next:
            self.fail_next -= 1
            raise OSError("database unavailable")
        self.batches.append([r.request_id for r in records])

    @property
    def ids(self) -> list[str]:
        return [i for b in self.batches for i in b]


async def _until(cond, limit: float = 5.0) -> None:
    """Wait (bounded) for the background task to make ``cond`` true."""
    async with asyncio.timeout(limit):
        while not cond():  # noqa: ASYNC110 (bounded by the timeout)
            await asyncio.sleep(0.005)


async def test_full_batch_written_by_background_task():
    """Reaching batch_size wakes the writer; records arrive in order, in one batch."""
    store = ListStore()
    w = UsageWriter(store, batch_size=3, flush_interval=60)
    for i in range(3):
        w.submit(record(i))
    await _until(lambda: store.batches)
    assert store.batches == [["req_000000", "req_000001", "req_000002"]]
    await w.aclose()


async def test_partial_batch_written_on_interval_and_on_close():
    """Fewer records than a batch go out on the timer; the remainder goes out on close."""
    store = ListStore()
    w = UsageWriter(store, batch_size=100, flush_interval=0.01)
    w.submit(record(1))
    await _until(lambda: store.batches)
    w.submit(record(2))
    await w.aclose()
    assert store.ids == ["req_000001", "req_000002"]
    assert w.stats.written == 2 and w.pending == 0


async def test_close_writes_everything_in_batches():
    """aclose flushes all queued records, batch_size at a time."""
    store = ListStore()
    w = UsageWriter(store, batch_size=4, flush_interval=60)
    for i in range(10):
        w.submit(record(i))
    await w.aclose()
    assert store.ids == [f"req_{i:06d}" for i in range(10)]
    assert all(len(b) <= 4 for b in store.batches)


async def test_full_queue_drops_and_counts():
    """Beyond max_queue new records are dropped (never blocking) and counted."""
    store = ListStore()
    w = UsageWriter(store, batch_size=100, flush_interval=60, max_queue=5)
    for i in range(8):
        w.submit(record(i))
    assert w.pending == 5 and w.stats.dropped == 3
    await w.aclose()
    assert len(store.ids) == 5


async def test_failed_batch_is_retried_in_order():
    """A failed write puts the batch back at the front; the next attempt writes it."""
    store = ListStore()
    store.fail_next = 1
    w = UsageWriter(store, batch_size=2, flush_interval=0.01)
    for i in range(4):
        w.submit(record(i))
    await _until(lambda: len(store.ids) == 4)
    assert store.ids == [f"req_{i:06d}" for i in range(4)]
    assert w.stats.failed_batches == 1 and w.stats.dropped == 0
    await w.aclose()


async def test_submit_after_close_is_dropped():
    """A record arriving after shutdown is counted as dropped, not written."""
    store = ListStore()
    w = UsageWriter(store)
    await w.aclose()
    w.submit(record(1))
    assert store.ids == [] and w.stats.dropped == 1


async def test_unwritable_store_loses_records_only_at_close():
    """If the store never recovers, close gives up after its tries and counts the loss."""
    store = ListStore()
    store.fail_next = 1000
    w = UsageWriter(store, batch_size=10, flush_interval=60, close_tries=2)
    for i in range(3):
        w.submit(record(i))
    await w.aclose()
    assert w.stats.dropped == 3 and w.stats.written == 0


class GatedStore(ListStore):
    """A store whose writes wait until the test opens the gate."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.entered = asyncio.Event()

    async def insert(self, records: Sequence[RequestRecord], packed: Sequence[bytes]) -> None:
        self.entered.set()
        await self.gate.wait()
        await super().insert(records, packed)


async def test_flush_waits_for_the_batch_the_background_task_is_writing():
    """Records the background task has taken off the queue but not yet written are part
    of "everything queued so far": a report that flushes first must see them (under load
    the write takes long enough for a report to read the table in between)."""
    store = GatedStore()
    w = UsageWriter(store, batch_size=2, flush_interval=60)
    w.submit(record(1))
    w.submit(record(2))
    async with asyncio.timeout(5):
        await store.entered.wait()  # the background task holds the batch, the queue is empty
    assert w.pending == 0
    flush = asyncio.create_task(w.flush())
    for _ in range(20):
        await asyncio.sleep(0)
    assert not flush.done()
    store.gate.set()
    async with asyncio.timeout(5):
        await flush
    assert store.ids == ["req_000001", "req_000002"]
    await w.aclose()
