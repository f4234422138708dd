"""Stored responses: what ``previous_response_id`` continues and ``GET /v1/responses/{id}`` reads.

A stored response keeps the response object and the conversation up to and
including its answer, as chat messages (instructions excluded: OpenAI does not
carry them over to the next response).  Each belongs to the tenant that made
it; another tenant sees a 404.  The memory store is per process, bounded in
count and age; several replicas need sticky sessions for continuations.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["MemoryResponseStore", "ResponseStore", "StoredResponse"]


@dataclass(frozen=True, slots=True)
class StoredResponse:
    owner: str
    response: dict[str, Any]
    #: the conversation through this response's answer, as chat messages
    history: list[dict[str, Any]]
    expires_at: float


class ResponseStore(Protocol):
    async def put(self, response_id: str, entry: StoredResponse) -> None: ...

    async def get(self, response_id: str, owner: str, now: float) -> StoredResponse | None: ...

    async def delete(self, response_id: str, owner: str) -> bool: ...


class MemoryResponseStore:
    """An LRU of stored responses with expiry, in this process."""

    def __init__(self, max_entries: int) -> None:
        self._max = max_entries
        self._entries: OrderedDict[str, StoredResponse] = OrderedDict()

    async def put(self, response_id: str, entry: StoredResponse) -> None:
        if self._max <= 0:
            return
        self._entries[response_id] = entry
        self._entries.move_to_end(response_id)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    async def get(self, response_id: str, owner: str, now: float) -> StoredResponse | None:
        entry = self._entries.get(response_id)
        if entry is None or entry.owner != owner:
            return None
        if entry.expires_at <= now:
            del self._entries[response_id]
            return None
        return entry

    async def delete(self, response_id: str, owner: str) -> bool:
        entry = self._entries.get(response_id)
        if entry is None or entry.owner != owner:
            return False
        del self._entries[response_id]
        return True
