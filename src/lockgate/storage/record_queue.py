"""How much a writer may hold in memory, and where the records beyond it go.

The usage and audit writers queue records in memory while the database catches up.  A
stalled database must not turn that queue into unbounded memory, so each writer's queue
is bounded twice: by records (``max_queue``) and by bytes (``max_queue_bytes``, an
estimate of what the queued records hold: strings, notes, headers and captured bodies,
plus a fixed cost per record measured with tracemalloc).

Records are what customers are billed from, so a record beyond the bound is never lost
silently.  ``overflow: dead_letter`` (the config's default) appends it to the writer's
dead-letter file (JSON lines, the same file rows the database refused go to) with the
error ``QueueFull``: nothing is lost, and the file can be replayed.  Records waiting for
that file are bounded too (a quarter of ``max_queue_bytes``, at least 1 MiB); only
beyond that, or with ``overflow: drop``, is a record dropped.  Every outcome is counted
(``lockgate_records_spilled_total{sink}``, ``lockgate_records_dropped_total{sink,
reason}``) and logged at 1, 2, 4, 8... occurrences; the queue's bytes are on /metrics
as ``lockgate_memory_bytes{cache="usage_queue"|"audit_queue"}``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from typing import Literal

import structlog

from lockgate.records import Packed, RequestRecord, packed
from lockgate.storage.dead_letter import DeadLetter

__all__ = ["Overflow", "QueueBound", "QueueFull", "record_bytes", "size_of"]

log = structlog.get_logger("lockgate.storage")

Overflow = Literal["dead_letter", "drop"]

#: resident bytes of a queued record with short strings and no notes (the slotted object,
#: its floats and ints, the bytes it crosses to the writer in), and what each of those
#: bytes stands for: once in the bytes, about once more (strings) to three times more
#: (notes, headers, attempts as dicts and lists) in the record's objects.  Fitted with
#: tracemalloc (/tmp-script, 300-2,000 records per shape): the estimate over the traced
#: memory is 1.08x for bench-shaped records (2.5 KiB), 1.12x with a 2 KB captured body,
#: 1.23x with 20 KB bodies, 1.43x with no notes (1.7 KiB): it errs on the large side.
_RECORD_BASE = 1400
_PER_PACKED_BYTE_X2 = 5  # 2.5 per byte


def size_of(blob: Packed) -> int:
    """The memory a queued record holds, estimated from its packed bytes."""
    return _RECORD_BASE + (_PER_PACKED_BYTE_X2 * len(blob)) // 2


def record_bytes(record: RequestRecord) -> int:
    """An estimate of the memory ``record`` holds while queued (what the bound counts),
    from the bytes it crosses to the writer in (:func:`lockgate.records.packed`, made
    once per record whichever sink asks first)."""
    return size_of(packed(record))


class QueueFull(Exception):
    """The reason written to the dead-letter file for a record beyond the queue's bound."""


class QueueBound:
    """Counts the bytes a writer's queue holds and disposes of records beyond the bound.

    The writer calls ``took``/``pop``/``push_front`` as records enter, leave and return to
    its queue (the same order as the queue's own appends and pops), asks
    ``full(record)`` before queueing one, and hands a record that does not fit to
    ``overflow``.  ``listener(sink, outcome, n)`` is told of every ``spilled`` or
    ``dropped:<reason>`` record (the app's metrics hook in there).
    """

    def __init__(
        self,
        sink: str,
        max_entries: int,
        max_bytes: int,
        overflow: Overflow,
        dead_letter: DeadLetter,
    ) -> None:
        self.sink = sink
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.policy: Overflow = overflow
        self.dead_letter = dead_letter
        self.bytes = 0
        #: each queued record's bytes for the writer, in queue order (a batch hands these
        #: over; their sizes give the estimate back when they leave)
        self._blobs: deque[Packed] = deque()
        self.spilled = 0
        self.dropped = 0
        self.listener: Callable[[str, str, int], None] | None = None
        self._spill: list[tuple[RequestRecord, int, asyncio.Future[None] | None]] = []
        self._spill_bytes = 0
        self._spill_max = max(1 << 20, max_bytes // 4)
        self._spill_task: asyncio.Task[None] | None = None

    def full(self, entries: int, size: int) -> bool:
        """Whether a record of ``size`` bytes would overflow a queue of ``entries``."""
        return entries >= self.max_entries or self.bytes + size > self.max_bytes

    def took(self, blob: Packed) -> None:
        """A record packed as ``blob`` joined the back of the queue."""
        self.bytes += size_of(blob)
        self._blobs.append(blob)

    def pop(self, n: int) -> list[Packed]:
        """``n`` records left the front of the queue: their packed bytes, in order."""
        blobs = [self._blobs.popleft() for _ in range(min(n, len(self._blobs)))]
        self.bytes -= sum(map(size_of, blobs))
        return blobs

    def push_front(self, blobs: list[Packed]) -> None:
        """Records popped with ``pop`` went back to the front of the queue, in order."""
        self._blobs.extendleft(reversed(blobs))
        self.bytes += sum(map(size_of, blobs))

    def overflow(
        self, record: RequestRecord, size: int, *, durable: bool
    ) -> asyncio.Future[None] | None:
        """Spill ``record`` to the dead-letter file, or drop it (counted either way).

        ``durable``: hand back a future that resolves once the record is in the file.
        """
        if self.policy == "drop" or self._spill_bytes + size > self._spill_max:
            self.lost(1, "queue_full")
            return None
        waiter = asyncio.get_running_loop().create_future() if durable else None
        self._spill.append((record, size, waiter))
        self._spill_bytes += size
        if self._spill_task is None or self._spill_task.done():
            self._spill_task = asyncio.get_running_loop().create_task(
                self._write_spill(), name=f"lockgate-{self.sink}-spill"
            )
        return waiter

    def lost(self, n: int, reason: str) -> None:
        """Count ``n`` records gone for good (``queue_full``, ``shutdown``) and say so."""
        if n <= 0:
            return
        before = self.dropped
        self.dropped += n
        if self.listener is not None:
            self.listener(self.sink, f"dropped:{reason}", n)
        if before == 0 or (before ^ self.dropped).bit_length() > before.bit_length():
            log.error(
                "records dropped: they are not in the database nor in the dead-letter file",
                sink=self.sink,
                reason=reason,
                dropped=self.dropped,
            )

    async def _write_spill(self) -> None:
        while self._spill:
            batch, self._spill = self._spill, []
            error = QueueFull(
                f"{self.sink} queue full ({self.max_entries} records or"
                f" {self.max_bytes} bytes in memory): the database is behind"
            )
            written = False
            try:
                written = await self.dead_letter.put(
                    [r for r, _, _ in batch],
                    error,
                    "records beyond the writer's memory bound; kept in the dead-letter file",
                )
            finally:
                self._spill_bytes -= sum(size for _, size, _ in batch)
                if written:
                    self.spilled += len(batch)
                    if self.listener is not None:
                        self.listener(self.sink, "spilled", len(batch))
                else:
                    self.lost(len(batch), "dead_letter_unwritable")
                for _, _, waiter in batch:
                    if waiter is not None and not waiter.done():
                        waiter.set_result(None)

    async def rescue(self, records: list[RequestRecord], reason: str) -> None:
        """Records a closing writer could not write: to the dead-letter file under
        ``overflow: dead_letter``, else (or if the file fails) dropped and counted."""
        if not records:
            return
        if self.policy == "dead_letter" and await self.dead_letter.put(
            records,
            QueueFull(f"{self.sink} writer closed with records unwritten: {reason}"),
            "records unwritten at shutdown; kept in the dead-letter file",
        ):
            self.spilled += len(records)
            if self.listener is not None:
                self.listener(self.sink, "spilled", len(records))
            return
        self.lost(len(records), "shutdown")

    async def aclose(self) -> None:
        """Wait for records on their way to the dead-letter file."""
        task = self._spill_task
        if task is not None:
            with contextlib.suppress(Exception):
                await task
        if self._spill:  # arrived after the task ended
            await self._write_spill()

    def memory_sizes(self, entries: int) -> list[tuple[str, int, int]]:
        name = f"{self.sink}_queue"
        return [
            (name, entries, self.bytes),
            (f"{self.sink}_spill", len(self._spill), self._spill_bytes),
        ]
