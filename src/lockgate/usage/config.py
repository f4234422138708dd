"""The ``usage:`` section of the config file."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["UsageSettings"]


class UsageSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: write one usage row per request to the database
    enabled: bool = True
    #: rows per transaction; encoding a batch runs on the event loop, so keep it modest
    batch_size: int = Field(default=100, ge=1)
    flush_interval_seconds: float = Field(default=1.0, gt=0)
    #: records held in memory at most; beyond it new records are dropped and counted
    max_queue: int = Field(default=100_000, ge=1)
    #: rows the database refuses one by one are appended here (JSON lines), never retried
    dead_letter_file: str = "./lockgate-data/usage-dead-letter.jsonl"
