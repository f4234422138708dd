"""Settings of the Responses API's store (``responses:`` in the config file)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ResponsesSettings"]


class ResponsesSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: stored responses kept (oldest dropped first); 0 turns storing off
    max_stored: int = Field(default=10_000, ge=0)
    #: how long a stored response can be read or continued
    ttl_seconds: float = Field(default=24 * 3600.0, gt=0)
