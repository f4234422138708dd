"""The audit sink: requests queue in memory and are written in hash-chained batches.

``submit`` only appends to a deque bounded by records and bytes (no I/O, no await;
beyond the bound a record goes to the dead-letter file or is dropped, counted either
way: :mod:`lockgate.storage.record_queue`); one background task
writes batches of up to ``batch_size`` rows in one transaction each, every
``flush_interval`` seconds or as soon as a full batch is waiting.  Database trouble
is retried with backoff and the batch is kept; a batch the database refuses for a
reason of its rows is written row by row, and rows still refused go to the
dead-letter file.  ``aclose`` writes everything still queued before it returns.

With ``durable=True`` (``audit: {durability: sync}``) the writer wakes as soon as a
record arrives and ``submit`` hands back a future that resolves when the record's
transaction has committed; records arriving during a write go into the next one
(group commit), so the cost is one commit per write, not per request.  See
:mod:`lockgate.audit.ledger` for how several replicas keep one linear chain.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog

from lockgate.audit.chain import AuditChain
from lockgate.audit.crypto import BodyCipher
from lockgate.audit.entry import entry_from_fields
from lockgate.records import Packed, RequestRecord, packed, unpack_fields
from lockgate.storage.database import Database
from lockgate.storage.dead_letter import DeadLetter, is_transient
from lockgate.storage.lean_import import lazy_module
from lockgate.storage.record_queue import Overflow, QueueBound, size_of

if TYPE_CHECKING:
    from sqlalchemy import exc as sa_exc
    from sqlalchemy.engine import Connection

    from lockgate.audit import ledger, repository, tables
    from lockgate.storage import bulk
else:  # imported on first use (storage/lean_import.py)
    sa_exc = lazy_module("sqlalchemy.exc")
    bulk = lazy_module("lockgate.storage.bulk")
    ledger = lazy_module("lockgate.audit.ledger")
    repository = lazy_module("lockgate.audit.repository")
    tables = lazy_module("lockgate.audit.tables")

__all__ = ["AuditWriter", "WriterStats", "append_audit_batch"]

log = structlog.get_logger("lockgate.audit")

#: append races retried at once before backing off
_FREE_CONFLICTS = 10
#: append races a single row may lose before it is taken for a bad row
_MAX_ROW_CONFLICTS = 50

DEFAULT_DEAD_LETTER = "./lockgate-data/audit-dead-letter.jsonl"


@dataclass(slots=True)
class WriterStats:
    written: int = 0
    batches: int = 0
    #: records refused because the queue was full or the writer closed
    dropped: int = 0
    #: batches that lost an append race to another writer and were re-chained
    conflicts: int = 0
    #: failed write attempts (database unavailable...), each retried
    errors: int = 0
    #: rows deleted by retention
    pruned: int = 0
    #: rows the database refused one by one (kept in the dead-letter file)
    dead_lettered: int = 0


class AuditWriter:
    """A ``RecordSink`` keeping the tamper-evident audit log in the database."""

    def __init__(
        self,
        db: Database,
        *,
        cipher: BodyCipher | None = None,
        batch_size: int = 500,
        flush_interval: float = 1.0,
        max_queue: int = 100_000,
        max_queue_bytes: int = 64 << 20,
        overflow: Overflow = "drop",
        clock: Callable[[], float] = time.time,
        retry_delay: float = 0.05,
        max_retry_delay: float = 5.0,
        close_timeout: float = 30.0,
        retention_seconds: float | None = None,
        prune_interval: float = 3600.0,
        durable: bool = False,
        dead_letter: DeadLetter | None = None,
    ) -> None:
        self._db = db
        self.durable = durable
        self.dead_letter = dead_letter or DeadLetter(DEFAULT_DEAD_LETTER, "audit")
        #: commit futures of queued records (durable mode), by the record's identity
        self._waiters: dict[int, asyncio.Future[None]] = {}
        self._unencodable: list[tuple[RequestRecord, BaseException]] = []
        self._cipher = cipher
        self._batch_size = batch_size
        self._interval = flush_interval
        self.bound = QueueBound("audit", max_queue, max_queue_bytes, overflow, self.dead_letter)
        self._clock = clock
        self._retry_delay = retry_delay
        self._max_retry_delay = max_retry_delay
        self._close_timeout = close_timeout
        self._retention = retention_seconds
        self._prune_interval = prune_interval
        self._last_prune: float | None = None
        self._pending: deque[RequestRecord] = deque()
        self._inflight = 0
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        #: a flush waits: write partial batches too until the queue is empty
        self._flushing = False
        self.stats = WriterStats()

    @property
    def queued(self) -> int:
        """Records accepted but not yet committed."""
        return len(self._pending) + self._inflight

    def memory_sizes(self) -> list[tuple[str, int, int]]:
        """Records queued in memory and their estimated bytes (both bounded), for metrics."""
        return self.bound.memory_sizes(self.queued)

    def submit(self, record: RequestRecord) -> asyncio.Future[None] | None:
        """Queue ``record``; in durable mode, a future resolved once it is committed."""
        bound = self.bound
        if self._closing:
            self.stats.dropped += 1
            bound.lost(1, "shutdown")
            return None
        blob = packed(record)
        size = size_of(blob)
        if bound.full(len(self._pending), size):
            before = bound.dropped
            spilled = bound.overflow(record, size, durable=self.durable)
            self.stats.dropped += bound.dropped - before
            return spilled
        bound.took(blob)
        self._pending.append(record)
        waiter: asyncio.Future[None] | None = None
        if self.durable:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters[id(record)] = waiter
            self._wake.set()
        self._idle.clear()
        if self._task is None:
            # A clean context: the first request's bound log fields must not stick to it.
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="audit-writer", context=contextvars.Context()
            )
        if len(self._pending) >= self._batch_size:
            self._wake.set()
        return waiter

    async def flush(self) -> None:
        """Wait until everything submitted so far is committed."""
        if self._task is None:
            return
        self._flushing = True
        self._wake.set()
        await self._idle.wait()

    async def aclose(self) -> None:
        """Write everything queued, then stop (gives up after ``close_timeout``)."""
        self._closing = True
        task = self._task
        if task is None:
            await self.bound.aclose()
            return
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), self._close_timeout)
        except TimeoutError:
            inflight = self._inflight
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            # The batch in flight was rolled back with its transaction; the rest never left.
            left = list(self._pending)
            self._pending.clear()
            self.bound.pop(len(left))
            lost = inflight
            self.bound.lost(lost, "shutdown")
            before = self.bound.dropped
            await self.bound.rescue(left, f"not written within {self._close_timeout} s")
            lost += self.bound.dropped - before
            self.stats.dropped += lost
            if self._waiters:
                self._release(left)
            log.error("audit records not written at shutdown", lost=lost, unwritten=len(left))
        await self.bound.aclose()

    def _draining(self) -> bool:
        """Whether every queued record is due now, a partial batch included: durable
        records, a flush, and shutdown wait for nothing."""
        return self.durable or self._flushing or self._closing

    async def _run(self) -> None:
        while True:
            if len(self._pending) < self._batch_size and not (self._pending and self._draining()):
                # A wake-up given before this task first ran (a flush right after the
                # first submit) is kept, not cleared: it would otherwise wait an interval.
                if not self._wake.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self._interval)
                self._wake.clear()
            # After a wake-up (a full batch, the interval, a flush) the first batch goes
            # whatever its size; then only full ones, unless draining: records arriving
            # during a write wait for their batch to fill or for the next interval, so a
            # busy gateway writes batches of ``batch_size``, not one per write's duration.
            first = True
            while self._pending and (
                first or len(self._pending) >= self._batch_size or self._draining()
            ):
                first = False
                batch = [
                    self._pending.popleft()
                    for _ in range(min(self._batch_size, len(self._pending)))
                ]
                self._inflight = len(batch)
                blobs = self.bound.pop(len(batch))
                try:
                    await self._write_until_done(batch, blobs)
                finally:
                    self._inflight = 0
                    if self._waiters:
                        self._release(batch)
            await self._maybe_prune()
            if self._pending and self._draining():
                continue  # a flush (or durable records) came in during the prune
            self._flushing = False
            if not self._pending:
                self._idle.set()
            if self._closing and not self._pending:
                return

    def _release(self, batch: list[RequestRecord]) -> None:
        """Resolve the commit futures of ``batch`` (written, or kept in the dead letter)."""
        for record in batch:
            waiter = self._waiters.pop(id(record), None)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

    async def _maybe_prune(self) -> None:
        """Apply retention at most once per ``prune_interval`` (idempotent across replicas)."""
        if self._retention is None:
            return
        now = self._clock()
        if self._last_prune is not None and now - self._last_prune < self._prune_interval:
            return
        self._last_prune = now
        try:
            result = await repository.AuditRepository(self._db).prune(
                older_than=now - self._retention, now=now
            )
        except Exception as exc:
            log.warning("audit retention prune failed; next try in an interval", error=repr(exc))
            return
        self.stats.pruned += result.deleted

    async def _write_until_done(self, batch: list[RequestRecord], blobs: list[Packed]) -> None:
        delay = self._retry_delay
        conflicts = 0
        while True:
            try:
                written = await self._write(batch, blobs)
            except sa_exc.IntegrityError as exc:
                # Another replica appended from the same head; re-chain on the new one.
                self.stats.conflicts += 1
                conflicts += 1
                if conflicts > _MAX_ROW_CONFLICTS:
                    await self._one_by_one(batch, blobs)
                    return
                if conflicts > _FREE_CONFLICTS:
                    log.warning("audit append keeps conflicting", error=str(exc))
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self._max_retry_delay)
                continue
            except Exception as exc:
                if not is_transient(exc):
                    # Refused for something in the rows themselves: never retried as is.
                    await self._one_by_one(batch, blobs)
                    return
                # Database down, pool timeout, driver trouble: keep the batch and retry; the
                # writer task must never die while requests keep queueing records.
                self.stats.errors += 1
                log.warning("audit batch write failed; retrying", error=repr(exc), rows=len(batch))
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._max_retry_delay)
                continue
            self.stats.written += written
            self.stats.batches += 1
            await self._dead_letter_unencodable()
            return

    async def _dead_letter_unencodable(self) -> None:
        if self._unencodable:
            bad, self._unencodable = self._unencodable, []
            self.stats.dead_lettered += len(bad)
            await self.dead_letter.put([r for r, _ in bad], bad[-1][1])

    async def _one_by_one(self, batch: list[RequestRecord], blobs: list[Packed]) -> None:
        """Append each record alone; those still refused go to the dead-letter file."""
        refused: list[RequestRecord] = []
        last: BaseException | None = None
        for record, blob in zip(batch, blobs, strict=True):
            delay = self._retry_delay
            conflicts = 0
            while True:
                try:
                    self.stats.written += await self._write([record], [blob])
                except sa_exc.IntegrityError as exc:
                    conflicts += 1
                    if conflicts <= _MAX_ROW_CONFLICTS:
                        continue
                    refused.append(record)
                    last = exc
                except Exception as exc:
                    if is_transient(exc):
                        self.stats.errors += 1
                        await asyncio.sleep(delay)
                        delay = min(delay * 2, self._max_retry_delay)
                        continue
                    refused.append(record)
                    last = exc
                break
        if refused:
            assert last is not None
            self.stats.dead_lettered += len(refused)
            await self.dead_letter.put(refused, last)
        await self._dead_letter_unencodable()

    async def _write(self, batch: list[RequestRecord], blobs: list[Packed]) -> int:
        # Encoding, encryption, hashing and the SQL run where the database writes batches
        # (its writer process or write thread), never on the request loop.
        written, bad = await self._db.write_batch(
            append_audit_batch, blobs, self._clock(), self._cipher
        )
        # only once the batch they came in is settled
        self._unencodable.extend((batch[i], exc) for i, exc in bad)
        return written


def _entries(
    batch: list[tuple[Any, ...]], now: float, cipher: BodyCipher | None
) -> tuple[list[dict[str, Any]], list[tuple[int, BaseException]]]:
    """The rows to chain, and the records (values in ``FIELDS`` order) that could not be
    encoded (by index)."""
    entries = []
    bad: list[tuple[int, BaseException]] = []
    for i, values in enumerate(batch):
        try:
            entries.append(entry_from_fields(values, created_at=now, cipher=cipher))
        except Exception as exc:
            # One unserialisable record must not block the log behind it.
            bad.append((i, exc))
    return entries, bad


def append_audit_batch(
    conn: Connection, packed: list[Packed], now: float, cipher: BodyCipher | None
) -> tuple[int, list[tuple[int, BaseException]]]:
    """Chain and insert a batch in ``conn``'s transaction: (rows written, unencodable by
    index).  A job of the writer process or thread; ``now`` is the batch's write time."""
    entries, bad = _entries(unpack_fields(packed), now, cipher)
    if not entries:
        return 0, bad
    ledger.lock_chain_in(conn)
    head = ledger.read_head(conn)
    chain = AuditChain(next_seq=head.seq + 1, head=head.hash)
    rows = [chain.link(e) for e in entries]
    bulk.insert_rows(conn, tables.audit_log, rows)
    last = rows[-1]
    ledger.write_head(conn, ledger.Checkpoint(last["seq"], last["hash"]), now)
    return len(rows), bad
