"""Builds the audit-log record sink (filled in by the audit writer)."""

from __future__ import annotations

from lockgate.records import RecordSink
from lockgate.settings import Settings
from lockgate.storage.database import Database

__all__ = ["build_audit_sinks"]


def build_audit_sinks(settings: Settings, db: Database) -> list[RecordSink]:
    """The sinks that keep the tamper-evident audit log."""
    return []
