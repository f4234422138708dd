"""The ``usage:`` section of the config file."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["UsageSettings"]


class UsageSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: write one usage row per request to the database
    enabled: bool = True
    #: rows per transaction (built and written in the writer process or thread, never on
    #: the request loop: larger batches cost less per row)
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
    #: rows the database refuses one by one are appended here (JSON lines), never retried
    dead_letter_file: str = "./lockgate-data/usage-dead-letter.jsonl"
