"""Builds the record sinks for usage accounting (filled in by the usage writer)."""

from __future__ import annotations

from lockgate.records import RecordSink
from lockgate.settings import Settings
from lockgate.storage.database import Database

__all__ = ["build_usage_sinks"]


def build_usage_sinks(settings: Settings, db: Database) -> list[RecordSink]:
    """The sinks that keep usage rows (and structured request logs)."""
    return []
