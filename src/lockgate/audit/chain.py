"""A hash chain over audit records, so that edits, deletions and reordering show.

Each record carries ``seq`` (0, 1, 2, ...), ``prev_hash`` (the previous record's
``hash``; :data:`GENESIS_HASH` for the first) and ``hash``::

    hash = SHA-256( prev_hash + "\\n" + canonical_json(record without "hash" and "prev_hash") )

Canonical JSON is orjson with sorted keys and no whitespace, so any writer that stores
the same values verifies the same way. A chain alone cannot notice its newest records
being cut off; keep the head (``seq``, ``hash``) somewhere else and pass it to
:func:`verify_chain` as ``expected_head`` to catch that too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = [
    "GENESIS_HASH",
    "AuditChain",
    "VerifyResult",
    "canonical_json",
    "record_hash",
    "verify_chain",
]

GENESIS_HASH = "0" * 64
_LINK_FIELDS = frozenset({"hash", "prev_hash"})


def canonical_json(record: Mapping[str, Any]) -> bytes:
    """The record's bytes as hashed: sorted keys, no whitespace, link fields left out."""
    body = {k: v for k, v in record.items() if k not in _LINK_FIELDS}
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)


def record_hash(prev_hash: str, record: Mapping[str, Any]) -> str:
    """Hex SHA-256 linking ``record`` to the record before it."""
    digest = hashlib.sha256(prev_hash.encode("ascii"))
    digest.update(b"\n")
    digest.update(canonical_json(record))
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """Outcome of :func:`verify_chain`; ``first_bad_index`` counts from 0 in the input."""

    ok: bool
    checked: int
    first_bad_index: int | None = None
    reason: str | None = None


def verify_chain(
    records: Iterable[Mapping[str, Any]],
    *,
    prev_hash: str = GENESIS_HASH,
    start_seq: int | None = 0,
    expected_head: tuple[int, str] | None = None,
) -> VerifyResult:
    """Check every link; stop at the first broken one.

    ``prev_hash``/``start_seq`` let a verification start mid-log from a trusted
    checkpoint (``start_seq=None`` accepts whatever ``seq`` the first record has).
    ``expected_head`` is the (seq, hash) of the newest record as recorded elsewhere.
    """
    expected_prev = prev_hash
    expected_seq = start_seq
    checked = 0
    last: tuple[int, str] | None = None
    for index, record in enumerate(records):
        try:
            seq, stored_prev, stored_hash = record["seq"], record["prev_hash"], record["hash"]
        except KeyError as exc:
            return VerifyResult(False, checked, index, f"missing field {exc.args[0]!r}")
        if expected_seq is not None and seq != expected_seq:
            reason = f"seq {seq} where {expected_seq} was expected (record missing or moved)"
            return VerifyResult(False, checked, index, reason)
        if stored_prev != expected_prev:
            return VerifyResult(False, checked, index, "prev_hash does not match previous hash")
        if record_hash(stored_prev, record) != stored_hash:
            return VerifyResult(False, checked, index, "hash does not match record contents")
        checked += 1
        expected_prev = stored_hash
        expected_seq = seq + 1
        last = (seq, stored_hash)
    if expected_head is not None and last != expected_head:
        reason = f"chain ends at {last!r}, expected head {expected_head!r} (records cut off?)"
        return VerifyResult(False, checked, checked, reason)
    return VerifyResult(True, checked)


class AuditChain:
    """The writer's side: stamps records with ``seq``, ``prev_hash`` and ``hash``.

    Not thread-safe and not persistent by itself: one per writer, resumed from the
    last stored record with ``AuditChain(next_seq=last["seq"] + 1, head=last["hash"])``.

    >>> chain = AuditChain()
    >>> first = chain.append({"event": "request", "key_id": "k1"})
    >>> first["seq"], first["prev_hash"] == GENESIS_HASH
    (0, True)
    >>> verify_chain([first, chain.append({"event": "response"})]).ok
    True
    """

    __slots__ = ("head", "next_seq")

    def __init__(self, *, next_seq: int = 0, head: str = GENESIS_HASH) -> None:
        self.next_seq = next_seq
        self.head = head

    def append(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """A new dict: ``record`` plus its link fields. The input is not modified."""
        linked = {k: v for k, v in record.items() if k not in _LINK_FIELDS}
        linked["seq"] = self.next_seq
        linked["prev_hash"] = self.head
        linked["hash"] = record_hash(self.head, linked)
        self.head = linked["hash"]
        self.next_seq += 1
        return linked

    def link(self, entry: dict[str, Any]) -> dict[str, Any]:
        """:meth:`append` for an ``entry`` the caller gives away (the writer's fresh rows):
        its link fields are added to it in place rather than to a copy; the same result."""
        if not _LINK_FIELDS.isdisjoint(entry):
            return self.append(entry)
        entry["seq"] = self.next_seq
        digest = hashlib.sha256(self.head.encode("ascii"))
        digest.update(b"\n")
        digest.update(orjson.dumps(entry, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS))
        entry["prev_hash"] = self.head
        self.head = entry["hash"] = digest.hexdigest()
        self.next_seq += 1
        return entry
