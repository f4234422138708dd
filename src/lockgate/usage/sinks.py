"""Builds the record sinks for usage accounting and structured request logs."""

from __future__ import annotations

from collections.abc import Sequence

from lockgate.logs import RequestLogSink
from lockgate.records import RecordSink
from lockgate.settings import Settings
from lockgate.storage.database import Database
from lockgate.storage.dead_letter import DeadLetter
from lockgate.usage.repository import UsageRepository
from lockgate.usage.writer import UsageWriter

__all__ = ["build_usage_sinks", "find_usage_writer"]


def build_usage_sinks(settings: Settings, db: Database) -> list[RecordSink]:
    """The sinks that keep usage rows (and structured request logs)."""
    sinks: list[RecordSink] = []
    u = settings.usage
    if u.enabled:
        sinks.append(
            UsageWriter(
                UsageRepository(db),
                batch_size=u.batch_size,
                flush_interval=u.flush_interval_seconds,
                max_queue=u.max_queue,
                max_queue_bytes=u.max_queue_bytes,
                overflow=u.overflow,
                dead_letter=DeadLetter(u.dead_letter_file, "usage"),
            )
        )
    if settings.logs.access:
        sinks.append(RequestLogSink())
    return sinks


def find_usage_writer(sinks: Sequence[RecordSink]) -> UsageWriter | None:
    """The usage writer among the app's sinks (None when usage recording is off)."""
    for sink in sinks:
        if isinstance(sink, UsageWriter):
            return sink
    return None
