"""Stored responses: what ``previous_response_id`` continues and ``GET /v1/responses/{id}`` reads.

A stored response keeps the response object and the conversation up to and
including its answer, as chat messages (instructions excluded: OpenAI does not
carry them over to the next response).  Each belongs to the API key that made
it; another key sees a 404.  Every store is bounded: in all (``max_stored``),
per key (``max_stored_per_key``, so one key's traffic never pushes out
another's), per entry (``max_entry_bytes``) and in age (``ttl_seconds``).
This module holds the shared pieces and the per-process memory store; the
database and Redis stores (shared by replicas) are in ``repository`` and
``redis_store``.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from lockgate.responses.config import ResponsesSettings

__all__ = [
    "MemoryResponseStore",
    "ResponseStore",
    "StoredResponse",
    "decode_body",
    "encode_body",
]


@dataclass(frozen=True, slots=True)
class StoredResponse:
    owner: str
    response: dict[str, Any]
    #: the conversation through this response's answer, as chat messages
    history: list[dict[str, Any]]
    created_at: float
    expires_at: float


class ResponseStore(Protocol):
    async def put(self, response_id: str, entry: StoredResponse) -> bool:
        """Keep ``entry``; False when it is too large to store."""
        ...

    async def get(self, response_id: str, owner: str, now: float) -> StoredResponse | None: ...

    async def delete(self, response_id: str, owner: str) -> bool: ...

    async def aclose(self) -> None: ...


def encode_body(entry: StoredResponse) -> bytes:
    return orjson.dumps({"response": entry.response, "history": entry.history})


def decode_body(
    raw: bytes | str, owner: str, created_at: float, expires_at: float
) -> StoredResponse:
    data = orjson.loads(raw)
    return StoredResponse(owner, data["response"], data["history"], created_at, expires_at)


class MemoryResponseStore:
    """An LRU of stored responses with expiry, in this process."""

    def __init__(self, settings: ResponsesSettings) -> None:
        self._settings = settings
        self._entries: OrderedDict[str, StoredResponse] = OrderedDict()
        self._by_owner: dict[str, OrderedDict[str, None]] = {}

    async def put(self, response_id: str, entry: StoredResponse) -> bool:
        s = self._settings
        if s.max_stored <= 0 or s.max_stored_per_key <= 0:
            return False
        if len(encode_body(entry)) > s.max_entry_bytes:
            return False
        self._drop(response_id)
        self._entries[response_id] = entry
        mine = self._by_owner.setdefault(entry.owner, OrderedDict())
        mine[response_id] = None
        while len(mine) > s.max_stored_per_key:
            self._drop(next(iter(mine)))
        while len(self._entries) > s.max_stored:
            self._drop(next(iter(self._entries)))
        return True

    def _drop(self, response_id: str) -> None:
        entry = self._entries.pop(response_id, None)
        if entry is None:
            return
        mine = self._by_owner[entry.owner]
        del mine[response_id]
        if not mine:
            del self._by_owner[entry.owner]

    async def get(self, response_id: str, owner: str, now: float) -> StoredResponse | None:
        entry = self._entries.get(response_id)
        if entry is None or entry.owner != owner:
            return None
        if entry.expires_at <= now:
            self._drop(response_id)
            return None
        return entry

    async def delete(self, response_id: str, owner: str) -> bool:
        entry = self._entries.get(response_id)
        if entry is None or entry.owner != owner:
            return False
        self._drop(response_id)
        return True

    def memory_sizes(self) -> list[tuple[str, int, int]]:
        """(name, entries, 0): stored responses (at most ``max_stored``)."""
        return [("stored_responses", len(self._entries), 0)]

    async def aclose(self) -> None:
        return None
