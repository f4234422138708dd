"""A record sink that ships batches over HTTP without ever holding up a request.

``submit`` runs on the request path: it only appends to a bounded queue (a full
queue drops the record and counts it).  One background task, started on the first
record, sends a batch when ``batch_size`` records wait or every
``flush_interval_seconds``.  A batch that meets a connection error, a timeout, a 408,
a 429 or a 5xx is tried again ``retries`` times with exponential backoff, then
dropped and counted; any other 4xx is the receiver refusing it, dropped at once.
``aclose`` sends what is queued within ``close_timeout_seconds``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

from lockgate.callbacks.config import Delivery, RecordEvent
from lockgate.callbacks.payloads import event_of
from lockgate.callbacks.transport import Poster
from lockgate.records import RequestRecord
from lockgate.task_stop import stop_tasks

__all__ = ["DropListener", "Encoded", "RecordShipper", "retryable"]

_log = logging.getLogger("lockgate.callbacks")

#: (sink name, reason, records): reasons are queue_full, rejected, send_failed, shutdown
DropListener = Callable[[str, str, int], None]
#: a batch as the request body and its headers
Encoded = tuple[bytes, Mapping[str, str]]

_MAX_BACKOFF = 30.0


def retryable(status: int | None) -> bool:
    """Whether a failed POST is worth another try (None: no answer at all)."""
    return status is None or status in (408, 429) or status >= 500


@dataclass(slots=True)
class ShipperStats:
    sent: int = 0
    dropped: int = 0
    batches: int = 0


class RecordShipper:
    def __init__(
        self,
        name: str,
        url: str,
        encode: Callable[[list[RequestRecord]], Encoded],
        *,
        events: Collection[RecordEvent],
        delivery: Delivery,
        poster: Poster,
        on_drop: DropListener | None = None,
        on_sent: Callable[[str, int], None] | None = None,
    ) -> None:
        self.name = name
        self._url = url
        self._encode = encode
        self._events = frozenset(events)
        self._d = delivery
        self._poster = poster
        self._on_drop = on_drop
        self._on_sent = on_sent
        self._buffer: deque[RequestRecord] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._in_flight = 0
        self.stats = ShipperStats()

    @property
    def pending(self) -> int:
        return len(self._buffer)

    def submit(self, record: RequestRecord) -> None:
        if event_of(record) not in self._events:
            return
        if self._closed or len(self._buffer) >= self._d.max_queue:
            self._dropped("queue_full", 1)
            return
        self._buffer.append(record)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"lockgate-callback-{self.name}"
            )
        if len(self._buffer) >= self._d.batch_size:
            self._wake.set()

    def _dropped(self, reason: str, n: int) -> None:
        self.stats.dropped += n
        if self._on_drop is not None:
            self._on_drop(self.name, reason, n)

    async def _run(self) -> None:
        while True:
            if not self._closed:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._d.flush_interval_seconds):
                        await self._wake.wait()
                self._wake.clear()
            while self._buffer:
                n = min(len(self._buffer), self._d.batch_size)
                await self._send([self._buffer.popleft() for _ in range(n)])
                if len(self._buffer) < self._d.batch_size and not self._closed:
                    break
            if self._closed and not self._buffer:
                return

    async def _send(self, batch: list[RequestRecord]) -> None:
        self._in_flight = len(batch)
        try:
            await self._try_send(batch)
        finally:
            self._in_flight = 0

    async def _try_send(self, batch: list[RequestRecord]) -> None:
        try:
            body, headers = self._encode(batch)
        except Exception:
            _log.exception("callback %s: a batch could not be encoded", self.name)
            self._dropped("rejected", len(batch))
            return
        for attempt in range(self._d.retries + 1):
            status: int | None = None
            try:
                status = await self._poster.post(self._url, body, headers)
            except (OSError, TimeoutError) as exc:
                _log.warning("callback %s: POST failed: %r", self.name, exc)
            except Exception as exc:  # aiohttp.ClientError and kin
                _log.warning("callback %s: POST failed: %r", self.name, exc)
            if status is not None and 200 <= status < 300:
                self.stats.sent += len(batch)
                self.stats.batches += 1
                if self._on_sent is not None:
                    self._on_sent(self.name, len(batch))
                return
            if not retryable(status):
                _log.warning("callback %s: receiver refused a batch (%s)", self.name, status)
                self._dropped("rejected", len(batch))
                return
            if attempt < self._d.retries:
                delay = min(_MAX_BACKOFF, self._d.retry_backoff_seconds * 2**attempt)
                await asyncio.sleep(delay)
        self._dropped("send_failed", len(batch))

    async def aclose(self) -> None:
        """Send what is queued (within the close timeout), then stop."""
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            self._wake.set()
            try:
                await asyncio.wait_for(asyncio.shield(task), self._d.close_timeout_seconds)
            except TimeoutError:
                lost = self._in_flight
                await stop_tasks([task], "callback shipper")
                if lost:
                    self._dropped("shutdown", lost)
        if self._buffer:
            self._dropped("shutdown", len(self._buffer))
            self._buffer.clear()
        await self._poster.aclose()
