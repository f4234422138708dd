"""Replaying a dead-letter file: its records back into the database, each at most once.

The usage and audit writers append what they could not write to a dead-letter file
(JSON lines, :mod:`lockgate.storage.dead_letter`): rows the database refused, records
beyond the queue's bound (``QueueFull``), records a closing writer could not write.
``lockgate usage replay`` and ``lockgate audit replay`` put them back:

1. The file is read first, without touching it: a line that is not a dead-letter entry
   of this sink (not JSON, no ``record``, another sink's file) refuses the whole file
   (:class:`NotADeadLetterFile`), and nothing is written or moved.
2. The file is taken: renamed to ``NAME.replaying-STAMP`` under its append lock, so a
   running gateway's next spill starts a new file instead of racing the replay.  A
   ``.replaying-`` file left by a replay that stopped half-way is taken up again.
3. Records are written in batches by the sink's :class:`ReplaySink`, which skips every
   record whose ``request_id`` is already in the database (usage rows are keyed by it;
   audit rows are looked up by it under the chain lock), so replaying a file twice, or
   a record the writer did manage to write, never writes a row twice.  A batch refused
   for its rows is written row by row; rows still refused, and entries that cannot be
   rebuilt (kept only as text), are "still bad" and go back to the live dead-letter
   file verbatim, to be replayed again once whatever refused them is mended.
4. The taken file is renamed ``NAME.replayed-STAMP`` and kept: it is the evidence.

A database that is away (a transient error, after a few tries) stops the replay with
the taken file in place; running the command again resumes it, skipping what was
already written.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import orjson

from lockgate.records import RequestRecord
from lockgate.storage.dead_letter import append_locked, is_transient, locked

__all__ = [
    "Entry",
    "NotADeadLetterFile",
    "ReplayReport",
    "ReplaySink",
    "WriteOutcome",
    "pending_files",
    "read_entries",
    "replay_file",
]

_FIELDS = frozenset(f.name for f in dataclasses.fields(RequestRecord))
_REQUIRED = frozenset(
    f.name
    for f in dataclasses.fields(RequestRecord)
    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
)
_BATCH = 200
#: tries of a batch the database did not take for a transient reason (busy, away)
_TRIES = 5
_BACKOFF = 0.2


class NotADeadLetterFile(Exception):
    """The file is not a dead-letter file of this sink: nothing was replayed."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of a dead-letter file: its record, or why it cannot be rebuilt."""

    line: bytes
    request_id: str | None
    record: RequestRecord | None
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class WriteOutcome:
    """What one write of a batch did: rows written, and the ids it found already there."""

    written: int
    duplicates: frozenset[str]


class ReplaySink(Protocol):
    """Writes records in one transaction, skipping those whose request id is stored."""

    async def write(self, records: Sequence[RequestRecord]) -> WriteOutcome: ...


@dataclass(slots=True)
class ReplayReport:
    file: str
    written: int = 0
    #: already in the database (or earlier in the file): not written again
    duplicates: int = 0
    #: (request id, reason) of each entry that could not be written
    still_bad: list[tuple[str | None, str]] = field(default_factory=list)
    #: where the replayed file was moved
    moved_to: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "written": self.written,
            "duplicates": self.duplicates,
            "still_bad": len(self.still_bad),
            "still_bad_examples": [
                {"request_id": rid, "reason": why} for rid, why in self.still_bad[:10]
            ],
            "moved_to": self.moved_to,
        }


def _record(raw: Any) -> tuple[RequestRecord | None, str | None]:
    """The record an entry's ``record`` object describes, or why there is none."""
    if not isinstance(raw, dict):
        return None, "the record is not a JSON object"
    keys = set(raw)
    if "repr" in keys and keys <= {"request_id", "repr"}:
        return None, "kept only as text (it could not be encoded when it was dead-lettered)"
    unknown = keys - _FIELDS
    if unknown:
        return None, f"fields this version does not know: {sorted(unknown)}"
    missing = _REQUIRED - keys
    if missing:
        return None, f"fields missing: {sorted(missing)}"
    if not isinstance(raw["request_id"], str) or not raw["request_id"]:
        return None, "request_id is not a string"
    return RequestRecord(**raw), None


def read_entries(path: Path, sink: str) -> list[Entry]:
    """Every entry of the dead-letter file at ``path``.

    Raises :class:`NotADeadLetterFile` naming the first line that is not an entry
    written by the ``sink`` writer's dead letter.
    """
    entries: list[Entry] = []
    with path.open("rb") as fh:
        data = fh.read()
    lines = data.split(b"\n")
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            if number == len(lines) and entries:
                # A torn last line (the writer was killed mid-append): keep it, verbatim.
                entries.append(Entry(line, None, None, "an incomplete line (a torn append)"))
                continue
            raise NotADeadLetterFile(f"{where}: not a JSON line") from None
        if not isinstance(obj, dict) or not {"sink", "record", "error"} <= set(obj):
            raise NotADeadLetterFile(
                f"{where}: not a dead-letter entry (expected an object with sink, error, record)"
            )
        if obj["sink"] != sink:
            raise NotADeadLetterFile(
                f"{where}: an entry of the {obj['sink']!r} sink; this command replays {sink!r}"
                f" entries (use `lockgate {obj['sink']} replay`)"
            )
        raw = obj["record"]
        rid = raw.get("request_id") if isinstance(raw, dict) else None
        record, problem = _record(raw)
        entries.append(Entry(line, rid if isinstance(rid, str) else None, record, problem))
    return entries


def _stamp() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")


def pending_files(path: Path) -> list[Path]:
    """Replays that stopped half-way (``NAME.replaying-*``) and the file itself."""
    left = sorted(path.parent.glob(f"{path.name}.replaying-*"))
    return [*left, path] if path.exists() else left


def _take(path: Path) -> Path:
    """Rename ``path`` aside under its append lock; a ``.replaying-`` file stays as it is."""
    if ".replaying-" in path.name:
        return path
    taken = path.with_name(f"{path.name}.replaying-{_stamp()}")
    with locked(path):
        os.replace(path, taken)
    return taken


async def _write(sink: ReplaySink, records: Sequence[RequestRecord]) -> WriteOutcome:
    """``sink.write`` tried again a few times while the database is busy or away."""
    delay = _BACKOFF
    for attempt in range(_TRIES):
        try:
            return await sink.write(records)
        except Exception as exc:
            if not is_transient(exc) or attempt == _TRIES - 1:
                raise
        await asyncio.sleep(delay)
        delay *= 2
    raise AssertionError("unreachable")


async def _replay_batch(
    sink: ReplaySink, batch: list[Entry], report: ReplayReport, bad: list[Entry]
) -> None:
    records = [e.record for e in batch if e.record is not None]
    try:
        outcome = await _write(sink, records)
    except Exception as exc:
        if is_transient(exc):
            raise
    else:
        report.written += outcome.written
        report.duplicates += len(outcome.duplicates)
        return
    for entry in batch:  # refused for a row of it: find which, one by one
        assert entry.record is not None
        try:
            outcome = await _write(sink, [entry.record])
        except Exception as exc:
            if is_transient(exc):
                raise
            report.still_bad.append((entry.request_id, f"{type(exc).__name__}: {exc}"[:300]))
            bad.append(entry)
            continue
        report.written += outcome.written
        report.duplicates += len(outcome.duplicates)


async def replay_file(path: Path, sink_name: str, sink: ReplaySink) -> ReplayReport:
    """Replay one dead-letter file (see the module's docstring); the report says how."""
    read_entries(path, sink_name)  # refuse before anything is moved
    taken = _take(path)
    live = (
        path
        if ".replaying-" not in path.name
        else path.with_name(path.name.split(".replaying-")[0])
    )
    entries = read_entries(taken, sink_name)
    report = ReplayReport(file=str(path))
    bad: list[Entry] = []
    seen: set[str] = set()
    batch: list[Entry] = []
    for entry in entries:
        if entry.record is None:
            report.still_bad.append((entry.request_id, entry.problem or "unreadable"))
            bad.append(entry)
            continue
        if entry.record.request_id in seen:
            report.duplicates += 1
            continue
        seen.add(entry.record.request_id)
        batch.append(entry)
        if len(batch) >= _BATCH:
            await _replay_batch(sink, batch, report, bad)
            batch = []
    if batch:
        await _replay_batch(sink, batch, report, bad)
    if bad:
        append_locked(live, b"".join(e.line.rstrip(b"\n") + b"\n" for e in bad))
    done = taken.with_name(taken.name.replace(".replaying-", ".replayed-"))
    os.replace(taken, done)
    report.moved_to = str(done)
    return report
