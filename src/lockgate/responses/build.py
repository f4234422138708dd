"""The Responses store the settings ask for."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lockgate.responses.config import ResponsesSettings
from lockgate.responses.store import MemoryResponseStore, ResponseStore

if TYPE_CHECKING:  # SQLAlchemy loads only when a store uses it
    from lockgate.storage.database import Database

__all__ = ["build_response_store"]


def build_response_store(
    settings: ResponsesSettings, db: Database, redis_url: str | None
) -> ResponseStore:
    if settings.backend == "memory":
        return MemoryResponseStore(settings)
    if settings.backend == "redis" and redis_url:  # settings check that one is set
        from lockgate.responses.redis_store import RedisResponseStore

        return RedisResponseStore(redis_url, settings)
    from lockgate.responses.repository import DatabaseResponseStore

    return DatabaseResponseStore(db, settings)
