"""The ``batches:`` section of the config file."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["BatchSettings"]


class BatchSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: serve /v1/files and /v1/batches and run batch lines in this process
    enabled: bool = True
    #: where uploaded and result files are kept (default: beside the SQLite database,
    #: else ./lockgate-data/files)
    storage_dir: str | None = None
    #: lines in flight at once per replica
    concurrency: int = Field(default=16, ge=1, le=1024)
    #: batch lines wait while more interactive requests than this are in flight here
    yield_above_inflight: int = Field(default=64, ge=0)
    max_lines: int = Field(default=50_000, ge=1)
    max_file_bytes: int = Field(default=200 * 1024 * 1024, ge=1)
    #: bytes and files one virtual key may keep (uploads beyond are refused; the disk is
    #: shared with every tenant, and with a SQLite database)
    max_stored_bytes_per_key: int = Field(default=10 * 1024**3, ge=1)
    max_files_per_key: int = Field(default=10_000, ge=1)
    #: a claimed line whose replica vanished is claimed again after this long
    lease_seconds: float = Field(default=30.0, gt=0)
    poll_seconds: float = Field(default=0.5, gt=0)
    #: lines marked as sent ahead of a free slot (default concurrency / 2): a finished line
    #: is followed at once; after a crash up to this many are counted as re-sent without
    #: having left (0: the count is exact, each start waits for its mark's commit)
    mark_ahead: int | None = Field(default=None, ge=0)
    #: a line that was upstream when its replica died or stopped (answer unknown):
    #: "resend" it with the same Idempotency-Key (never lost; sent twice unless the
    #: upstream honours the key), or "fail" it into the error file with code
    #: ``interrupted`` (never sent twice; the client decides; mark_ahead is then 0)
    after_crash: Literal["resend", "fail"] = "resend"
    #: tries per line before it is written to the error file
    max_attempts: int = Field(default=3, ge=1)
    #: "auto": a batch whose lines all name one alias served (first deployment) by OpenAI
    #: or Anthropic goes to that provider's own batch API for its discount (a batch's
    #: metadata ``lockgate_handoff: "off"`` keeps it here); "off": lockgate runs it
    handoff: Literal["off", "auto"] = "off"
    #: how often a handed-off batch's status is asked for
    handoff_poll_seconds: float = Field(default=60.0, gt=0)
    #: share of the deployment's price a handed-off line's usage row is priced at
    handoff_discount: float = Field(default=0.5, ge=0, le=1)
    #: time limit of one call to the provider's batch API (uploads included)
    handoff_timeout_seconds: float = Field(default=300.0, gt=0)
