"""The usage writer: a record sink that queues in memory and writes in batches.

``submit`` is called on the request path and only appends to a buffer bounded by
``max_queue`` records and ``max_queue_bytes``; beyond either a record goes to the
dead-letter file or is dropped, counted either way, never blocking the request (see
:mod:`lockgate.storage.record_queue`).  One background task, started on the first
``submit`` (or by ``start``), writes a batch when ``batch_size`` records are waiting
or every ``flush_interval`` seconds.  A batch that fails to write goes back to the
front of the buffer and is retried on the next tick when the database is away; when
it failed for a reason of its rows, the rows are written one by one and those the
database still refuses go to the dead-letter file, so one bad row never stalls the
writer.  ``aclose`` writes whatever is left, so a clean shutdown loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from lockgate.records import Packed, RequestRecord, packed
from lockgate.storage.dead_letter import DeadLetter, is_transient
from lockgate.storage.record_queue import Overflow, QueueBound, size_of
from lockgate.storage.release import release

__all__ = ["BatchStore", "UsageWriter", "WriterStats"]

_log = logging.getLogger("lockgate.usage")

DEFAULT_DEAD_LETTER = "./lockgate-data/usage-dead-letter.jsonl"


class BatchStore(Protocol):
    async def insert(self, records: Sequence[RequestRecord], packed: Sequence[Packed]) -> None:
        """Write ``records`` (``packed``: the same records as the writer process takes
        them, made when they were queued)."""
        ...


@dataclass(slots=True)
class WriterStats:
    written: int = 0
    dropped: int = 0
    failed_batches: int = 0
    #: rows the database refused one by one (kept in the dead-letter file)
    dead_lettered: int = 0


class UsageWriter:
    def __init__(
        self,
        store: BatchStore,
        *,
        batch_size: int = 500,
        flush_interval: float = 1.0,
        max_queue: int = 100_000,
        max_queue_bytes: int = 64 << 20,
        overflow: Overflow = "drop",
        close_tries: int = 3,
        dead_letter: DeadLetter | None = None,
    ) -> None:
        self._store = store
        self.dead_letter = dead_letter or DeadLetter(DEFAULT_DEAD_LETTER, "usage")
        self._batch_size = batch_size
        self._interval = flush_interval
        self.bound = QueueBound("usage", max_queue, max_queue_bytes, overflow, self.dead_letter)
        self._close_tries = close_tries
        self._buffer: deque[RequestRecord] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._closed = False
        self.stats = WriterStats()

    @property
    def pending(self) -> int:
        return len(self._buffer)

    def memory_sizes(self) -> list[tuple[str, int, int]]:
        """Records queued in memory and their estimated bytes (both bounded), for metrics."""
        return self.bound.memory_sizes(len(self._buffer))

    def start(self) -> None:
        if self._task is None and not self._closed:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="lockgate-usage-writer"
            )

    def submit(self, record: RequestRecord) -> None:
        buf = self._buffer
        if self._closed:
            self.stats.dropped += 1
            self.bound.lost(1, "shutdown")
            return
        blob = packed(record)
        size = size_of(blob)
        bound = self.bound
        if bound.full(len(buf), size):
            before = bound.dropped
            bound.overflow(record, size, durable=False)
            self.stats.dropped += bound.dropped - before
            return
        bound.took(blob)
        buf.append(record)
        if self._task is None:
            self.start()
        if len(buf) >= self._batch_size:
            self._wake.set()

    async def flush(self) -> None:
        """Write everything queued so far (raises if the store fails).

        Records queued while it runs are left to the background task: under steady
        traffic the queue never empties, and a flush must still return.
        """
        async with self._lock:
            pass  # a batch the background task took off the queue is written (or put back) first
        target = self.stats.written + len(self._buffer)
        while self._buffer and self.stats.written < target:
            await self._write_one_batch(reraise=True)

    async def _write_one_batch(self, *, reraise: bool) -> bool:
        async with self._lock:
            buf = self._buffer
            n = min(len(buf), self._batch_size)
            if n == 0:
                return True
            batch = [buf.popleft() for _ in range(n)]
            blobs = self.bound.pop(n)
            try:
                await self._store.insert(batch, blobs)
            except Exception as exc:
                self.stats.failed_batches += 1
                if not is_transient(exc):
                    return await self._one_by_one(batch, blobs, reraise=reraise)
                self._put_back(batch, blobs)
                if reraise:
                    raise
                _log.warning("usage writer: batch of %d records not written; will retry", n)
                return False
            except BaseException:
                self.stats.failed_batches += 1
                # Back to the front, in order, so the next tick retries them first.
                self._put_back(batch, blobs)
                raise
            self.stats.written += n
            release(batch)  # freed a slice per loop pass (storage/release.py)
            return True

    async def _one_by_one(
        self, batch: list[RequestRecord], blobs: list[Packed], *, reraise: bool
    ) -> bool:
        """Write ``batch`` row by row (under the lock); refused rows go to the dead letter."""
        refused: list[RequestRecord] = []
        last: BaseException | None = None
        for i, record in enumerate(batch):
            try:
                await self._store.insert([record], blobs[i : i + 1])
            except Exception as exc:
                if is_transient(exc):
                    # The database went away meanwhile: keep the rest for the next tick.
                    self._put_back(batch[i:], blobs[i:])
                    await self.dead_letter.put(refused, last or exc)
                    self.stats.dead_lettered += len(refused)
                    if reraise:
                        raise
                    return False
                refused.append(record)
                last = exc
            else:
                self.stats.written += 1
        if refused:
            assert last is not None
            await self.dead_letter.put(refused, last)
            self.stats.dead_lettered += len(refused)
        return True

    def _put_back(self, records: list[RequestRecord], blobs: list[Packed]) -> None:
        """Records whose write failed go back to the front of the queue, in order."""
        self._buffer.extendleft(reversed(records))
        self.bound.push_front(blobs)

    async def _run(self) -> None:
        while not self._closed:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval):
                    await self._wake.wait()
            self._wake.clear()
            while len(self._buffer) and not self._closed:
                if not await self._write_one_batch(reraise=False):
                    break
                if len(self._buffer) < self._batch_size:
                    break

    async def aclose(self) -> None:
        """Stop the background task and write what is left."""
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            # Let a write in progress finish rather than cancel it mid-transaction.
            self._wake.set()
            try:
                await asyncio.wait_for(asyncio.shield(task), self._interval + 5.0)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for _ in range(self._close_tries):
            if not self._buffer:
                return
            try:
                await self.flush()
            except Exception:
                _log.exception("usage writer: flush on close failed")
        await self.bound.aclose()
        if self._buffer:
            left = list(self._buffer)
            self._buffer.clear()
            self.bound.pop(len(left))
            before = self.bound.dropped
            await self.bound.rescue(left, "the database did not take them")
            lost = self.bound.dropped - before
            self.stats.dropped += lost
            if lost:
                _log.error("usage writer: %d records lost at shutdown", lost)
