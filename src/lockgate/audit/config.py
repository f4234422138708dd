"""The ``audit:`` section of the config file."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["AuditSettings"]


class AuditSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    #: keep request/response bodies (redacted, then AES-256-GCM encrypted)
    store_bodies: bool = False
    #: environment variable holding the 32-byte body key (hex or base64)
    key_env: str = "LOCKGATE_AUDIT_KEY"
    #: rows older than this are deleted (hourly by the writer, or `lockgate audit prune`),
    #: keeping a checkpoint so the rest still verifies
    retention_days: float | None = Field(default=None, gt=0)
    #: rows per transaction (encoded, hashed and written in the writer process or thread,
    #: never on the request loop: larger batches cost less per row)
    batch_size: int = Field(default=500, ge=1)
    flush_interval_seconds: float = Field(default=1.0, gt=0)
    #: records held in memory at most (see max_queue_bytes and overflow)
    max_queue: int = Field(default=100_000, ge=1)
    #: estimated bytes those records may hold at most (strings, notes, headers, bodies);
    #: a stalled database must not turn the queue into unbounded memory
    max_queue_bytes: int = Field(default=32 << 20, ge=1 << 16)
    #: a record beyond either bound: ``dead_letter`` appends it to dead_letter_file (nothing
    #: lost; lockgate_records_spilled_total), ``drop`` loses it (lockgate_records_dropped_total)
    overflow: Literal["dead_letter", "drop"] = "dead_letter"
    #: ``sync``: a response is released only once its audit record is committed (group
    #: commit); ``async``: records are written in the background (a crash loses ~1 s)
    durability: Literal["async", "sync"] = "async"
    #: sync: longest a response waits for its commit before it becomes a 503
    sync_timeout_seconds: float = Field(default=10.0, gt=0)
    #: rows the database refuses one by one are appended here (JSON lines)
    dead_letter_file: str = "./lockgate-data/audit-dead-letter.jsonl"
