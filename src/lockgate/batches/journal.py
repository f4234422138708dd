"""Upstream answers of batch lines, written down the moment they arrive.

A batch line's answer is stored in the database by the runner's next turn (group
commit), so a gateway killed between the upstream's answer and that commit used to send
the line again after the restart (the Idempotency-Key only helps if the upstream honours
it), or, with ``after_crash: fail``, failed it as ``interrupted``. Each process appends
every upstream answer of a batch line to a file of its own here (one ``write`` call per
answer: the kernel keeps it when the process is SIGKILLed; a power cut can lose it, as
it can lose the database's last commits without fsync). A line run again after a crash
first looks its answer up here, in every process's journal beside the batch files: if
the upstream already answered it, the answer is replayed and nothing is sent again.

A process's journal is rotated once it grows past ``rotate_bytes`` and the old file is
deleted once every line that was running when it rotated has its answer stored; other
processes' journals (a process that died) are deleted once untouched for
``stale_seconds`` (by then their lines' leases lapsed and were run again).
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import orjson

from lockgate.chat import ChatResponse, Usage
from lockgate.errors import ConflictError

__all__ = ["AnswerJournal", "LeaseLost", "LineAnswers"]

_SUFFIX = ".answers"
_USAGE_FIELDS = tuple(f.name for f in dataclasses.fields(Usage))


def _key(batch_id: str, line_no: int) -> str:
    return f"{batch_id}:{line_no}"


class AnswerJournal:
    def __init__(
        self,
        directory: Path,
        owner: str,
        *,
        rotate_bytes: int = 8 * 1024 * 1024,
        stale_seconds: float = 24 * 3600.0,
    ) -> None:
        self.dir = directory
        self.owner = owner
        self._rotate_bytes = rotate_bytes
        self._stale = stale_seconds
        self._fd: int | None = None
        self._generation = 0
        self._written = 0
        #: our rotated-out file, and the lines running when it rotated
        self.retired: tuple[Path, set[tuple[str, int]]] | None = None
        self._lock = threading.Lock()  # the index is read on the database's write thread
        self._index: dict[str, bytes] = {}
        #: (owner, line key) of every "sending" record; owners whose journal was seen
        self._left: set[tuple[str, str]] = set()
        self._owners: set[str] = set()
        self._offsets: dict[Path, int] = {}

    # -- writing -------------------------------------------------------------
    def _path(self) -> Path:
        return self.dir / f"{self.owner}.{self._generation}{_SUFFIX}"

    def _append(self, data: bytes) -> None:
        if self._fd is None:
            self.dir.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self._path(), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.write(self._fd, data)
        self._written += len(data)

    def sending(self, batch_id: str, line_no: int) -> None:
        """Note that a line's request is about to leave for the upstream: a line marked
        sent whose owner's journal lacks this never left (see ``left``)."""
        self._append(b'{"k":"' + _key(batch_id, line_no).encode() + b'","s":1}\n')

    def record(
        self, batch_id: str, line_no: int, response: ChatResponse, request_id: str | None = None
    ) -> None:
        """Append one answer (one ``write``: whole or absent after a SIGKILL), with the
        id of the request that got it (its usage row's, once written)."""
        entry = {
            "k": _key(batch_id, line_no),
            "rid": request_id,
            "body": response.body,
            "usage": {f: getattr(response.usage, f) for f in _USAGE_FIELDS},
            "native": response.native,
        }
        self._append(orjson.dumps(entry) + b"\n")

    def tracks_running(self) -> bool:
        """Whether ``stored``/``rotate_if_big`` need the running lines now (a file is
        retired, or this one is due to rotate): the runner builds that set only then."""
        return self.retired is not None or (
            self._fd is not None and self._written >= self._rotate_bytes
        )

    def rotate_if_big(self, running: set[tuple[str, int]]) -> None:
        """Start a new file once this one is big; the old one goes once none of
        ``running`` (the lines that may have an answer only there) is unstored."""
        if self._fd is None or self._written < self._rotate_bytes or self.retired is not None:
            return
        os.close(self._fd)
        self.retired = (self._path(), set(running))
        self._fd, self._written = None, 0
        self._generation += 1

    def stored(self, unstored: set[tuple[str, int]]) -> None:
        """After a committed turn: ``unstored`` are the lines still running or waiting
        to be stored; the retired file goes once none of its lines is among them."""
        if self.retired is None:
            return
        path, lines = self.retired
        lines &= unstored
        if not lines:
            path.unlink(missing_ok=True)
            self.retired = None

    def close(self, *, remove: bool) -> None:
        """``remove``: every answer in it is stored (a clean stop)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            if remove:
                self._path().unlink(missing_ok=True)
        if remove and self.retired is not None:
            self.retired[0].unlink(missing_ok=True)
            self.retired = None

    # -- reading -------------------------------------------------------------
    def _scan(self) -> None:
        if not self.dir.is_dir():
            return
        now = time.time()
        for path in self.dir.glob(f"*{_SUFFIX}"):
            try:
                st = path.stat()
                if now - st.st_mtime > self._stale and not path.name.startswith(self.owner):
                    path.unlink(missing_ok=True)
                    continue
                start = self._offsets.get(path, 0)
                if st.st_size <= start:
                    continue
                with path.open("rb") as f:
                    f.seek(start)
                    data = f.read()
            except FileNotFoundError:
                continue
            end = data.rfind(b"\n") + 1  # a record still being written waits
            owner = path.name.rsplit(".", 2)[0]
            self._owners.add(owner)
            for raw in data[:end].splitlines():
                try:
                    entry = orjson.loads(raw)
                    key = entry["k"]
                except (orjson.JSONDecodeError, KeyError, TypeError):
                    continue
                if "s" in entry:
                    self._left.add((owner, key))
                else:
                    self._index[key] = raw
            self._offsets[path] = start + end

    def _find(self, batch_id: str, line_no: int) -> bytes | None:
        key = _key(batch_id, line_no)
        with self._lock:
            raw = self._index.get(key)
            if raw is None:
                self._scan()
                raw = self._index.get(key)
            return raw

    def has(self, batch_id: str, line_no: int) -> bool:
        return self._find(batch_id, line_no) is not None

    def refresh(self) -> None:
        """Read what every journal here gained since the last look."""
        with self._lock:
            self._scan()

    def answered(self, batch_id: str, line_no: int) -> bool:
        """``has`` as of the last ``refresh`` (no file read)."""
        return _key(batch_id, line_no) in self._index

    def never_left(self, owner: str, batch_id: str, line_no: int) -> bool:
        """As of the last ``refresh``: True only if ``owner``'s journal is here and says
        the line's request never left for the upstream while that owner held it (no
        "sending" record). False when unsure: that owner's journal is not here (another
        machine's disk, or it never sent anything)."""
        key = _key(batch_id, line_no)
        return owner in self._owners and (owner, key) not in self._left

    def request_id(self, batch_id: str, line_no: int) -> str | None:
        """The id of the request whose answer was journaled for a line, if any."""
        raw = self._find(batch_id, line_no)
        rid = orjson.loads(raw).get("rid") if raw is not None else None
        return rid if isinstance(rid, str) else None

    def answer(self, batch_id: str, line_no: int) -> ChatResponse | None:
        raw = self._find(batch_id, line_no)
        if raw is None:
            return None
        entry = orjson.loads(raw)
        return ChatResponse(entry["body"], Usage(**entry["usage"]), entry.get("native"))


class LeaseLost(ConflictError):
    """A batch line's lease may have lapsed before its request left (the replica paused,
    or could not renew its leases): it is not sent, since another replica may hold the
    line now, and the runner gives it back. It says nothing about the upstream."""

    code = "batch_lease_lost"

    def __init__(self, batch_id: str, line_no: int) -> None:
        super().__init__(
            f"Batch {batch_id} line {line_no}: this replica's lease on the line may have "
            "lapsed, so its request was not sent; the line is given back."
        )
        self.shared = True  # not the deployment's failure: its breaker does not count it


@dataclasses.dataclass(slots=True)
class LineAnswers:
    """One line's view of the journal, handed to the dispatcher (``UpstreamJournal``):
    ``recorded`` is looked up only for a line run before (``rerun``); ``holds`` says
    whether this replica surely still holds the line's lease (checked before every
    attempt leaves, retries and fallbacks included)."""

    journal: AnswerJournal
    batch_id: str
    line_no: int
    rerun: bool
    #: the id of the request running the line now
    request_id: str | None = None
    holds: Callable[[], bool] | None = None

    def recorded(self) -> ChatResponse | None:
        if not self.rerun:
            return None
        return self.journal.answer(self.batch_id, self.line_no)

    def sending(self) -> None:
        if self.holds is not None and not self.holds():
            raise LeaseLost(self.batch_id, self.line_no)
        self.journal.sending(self.batch_id, self.line_no)

    def record(self, response: ChatResponse) -> None:
        self.journal.record(self.batch_id, self.line_no, response, self.request_id)
