"""The value stored under a cache key, and its byte encoding.

One canonical form is stored: the final ``chat.completion`` dict.  A streamed
answer is aggregated into a completion before it is stored (``aggregate``), and
a streaming request served from the cache gets it replayed as chunks
(``replay``), so one entry answers both kinds of request.

The original ``id`` and ``created`` are kept: a cached answer *is* that
answer, and the gateway marks it with the ``x-lockgate-cache: hit`` header.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from lockgate.cache.errors import CacheStoreError

__all__ = ["ENTRY_VERSION", "CacheEntry", "decode_entry", "encode_entry"]

ENTRY_VERSION = 1


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """A cached answer: the completion plus when it was stored (wall-clock seconds)."""

    completion: dict[str, Any]
    stored_at: float
    #: Free-form extras a cache variant may need (the semantic cache keeps the prompt here).
    meta: dict[str, Any] | None = None


def encode_entry(entry: CacheEntry) -> bytes:
    """Serialise an entry to compact bytes."""
    doc: dict[str, Any] = {"v": ENTRY_VERSION, "at": entry.stored_at, "c": entry.completion}
    if entry.meta is not None:
        doc["m"] = entry.meta
    return orjson.dumps(doc)


def decode_entry(raw: bytes) -> CacheEntry:
    """Parse bytes made by ``encode_entry``; raises ``CacheStoreError`` on anything else."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise CacheStoreError(f"corrupt cache entry: {exc}") from None
    if (
        not isinstance(doc, dict)
        or doc.get("v") != ENTRY_VERSION
        or not isinstance(doc.get("c"), dict)
    ):
        raise CacheStoreError("cache entry has an unknown format")
    meta = doc.get("m")
    return CacheEntry(
        completion=doc["c"],
        stored_at=float(doc.get("at", 0.0)),
        meta=meta if isinstance(meta, dict) else None,
    )
