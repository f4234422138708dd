"""Where records go that the database refused one by one: a JSON-lines file.

The usage and audit writers write in batches.  When a batch fails they write its
rows one at a time; a row that still fails for a reason of its own (not the
database being away) is appended here, counted, and logged once per batch, and the
writer carries on with the rows behind it.  Nothing is lost and nothing stalls:
the file can be inspected, and replayed with ``lockgate usage replay`` / ``lockgate
audit replay`` (:mod:`lockgate.storage.replay`).  Appends take the file's lock and make
sure they write to the file still at the path, so a replay that renames the file aside
never loses a line appended meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import orjson
import structlog

from lockgate.records import RequestRecord

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Linux or macOS: appends go unlocked
    fcntl = None  # type: ignore[assignment]

__all__ = ["DeadLetter", "append_locked", "is_transient", "locked"]

log = structlog.get_logger("lockgate.storage")


def is_transient(exc: BaseException) -> bool:
    """Whether a write failed because the database is unreachable or busy (retry later),
    rather than because of the row itself (dead-letter it)."""
    sa_exc = sys.modules.get("sqlalchemy.exc")  # not imported: no SQLAlchemy error either
    if sa_exc is not None:
        if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError):
            return True
        if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
            return True
    return isinstance(exc, OSError | TimeoutError | ConnectionError)


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold the append lock of the file at ``path`` (created if missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("ab") as fh:
        if fcntl is not None:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        yield


def append_locked(path: Path, data: bytes) -> None:
    """Append ``data`` to the file now at ``path``, under its lock.

    A replay renames the file aside under the same lock; an append that opened the old
    file just before sees that its file is no longer at ``path`` and opens the new one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(100):
        with path.open("ab") as fh:
            if fcntl is not None:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
                try:
                    here = os.stat(path)
                except FileNotFoundError:
                    continue
                if not os.path.samestat(here, os.fstat(fh.fileno())):
                    continue  # renamed aside between our open and our lock
            fh.write(data)
            return
    raise OSError(f"{path}: the file kept moving while appending")


#: the record's fields, in order
_FIELDS = tuple(f.name for f in dataclasses.fields(RequestRecord))


def _line(sink: str, now: float, reason: str, record: RequestRecord) -> bytes:
    # The fields as they are, not ``dataclasses.asdict``: its deep copy fails on a value
    # pickle cannot copy (a lock in the notes) or nests too deep, and the record is here
    # precisely because something about it was odd; orjson writes what it can as text.
    fields = {name: getattr(record, name) for name in _FIELDS}
    entry = {"sink": sink, "at": now, "error": reason, "record": fields}
    try:
        return orjson.dumps(entry, default=str, option=orjson.OPT_NON_STR_KEYS) + b"\n"
    except (TypeError, ValueError):
        # Too deep or otherwise unencodable: keep the facts as text rather than lose them.
        entry["record"] = {"request_id": record.request_id, "repr": repr(record)[:100_000]}
        return orjson.dumps(entry) + b"\n"


class DeadLetter:
    """Appends refused records to ``path`` (JSON lines) and counts them."""

    def __init__(self, path: str | Path, sink: str) -> None:
        self.path = Path(path)
        self.sink = sink
        self.count = 0
        #: called with (sink, rows) after each write; the app's metrics hook in here
        self.listener: Callable[[str, int], None] | None = None

    async def put(
        self,
        records: Sequence[RequestRecord],
        error: BaseException,
        what: str = "records refused by the database; kept in the dead-letter file",
    ) -> bool:
        """Append ``records``; ``False`` if the file could not be written (they are lost)."""
        if not records:
            return True
        from lockgate.logs import mask_secrets  # pydantic: not in the writer process

        reason = mask_secrets(f"{type(error).__name__}: {error}")[:500]
        now = time.time()
        lines = b"".join(_line(self.sink, now, reason, r) for r in records)
        try:
            await asyncio.to_thread(self._append, lines)
        except OSError as exc:
            log.error(
                "dead-letter file not writable; records lost",
                sink=self.sink,
                path=str(self.path),
                rows=len(records),
                error=repr(exc),
            )
            written = False
        else:
            written = True
            log.error(
                what,
                sink=self.sink,
                path=str(self.path),
                rows=len(records),
                error=reason,
                request_ids=[r.request_id for r in records[:5]],
            )
        self.count += len(records)
        if self.listener is not None:
            self.listener(self.sink, len(records))
        return written

    def _append(self, lines: bytes) -> None:
        append_locked(self.path, lines)
