"""Settings of the Responses API's store (``responses:`` in the config file)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ResponsesSettings"]


class ResponsesSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: where stored responses live: ``database`` (general_settings.database_url, shared by
    #: every replica on it), ``redis`` (general_settings.redis_url) or ``memory`` (this
    #: process only: continuations need sticky sessions)
    backend: Literal["database", "redis", "memory"] = "database"
    #: stored responses kept in all (oldest dropped first); 0 turns storing off
    max_stored: int = Field(default=100_000, ge=0)
    #: stored responses kept per API key (its oldest dropped first), so one key's traffic
    #: never pushes out another's
    max_stored_per_key: int = Field(default=1_000, ge=0)
    #: a response whose stored form (response + conversation) is larger is not stored
    #: (its ``store`` field then says false)
    max_entry_bytes: int = Field(default=4 * 1024 * 1024, gt=0)
    #: how long a stored response can be read or continued
    ttl_seconds: float = Field(default=24 * 3600.0, gt=0)

    def check_backend(self, redis_url: str | None) -> None:
        if self.backend == "redis" and not redis_url:
            raise ValueError("responses.backend: redis needs general_settings.redis_url")
