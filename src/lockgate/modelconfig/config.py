"""The ``live_models:`` section of the config file."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["LiveModelSettings"]


class LiveModelSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: how often each process reads the model change counter (with Redis, a message on
    #: ``lockgate:models`` reaches every process at once; the poll backs it up)
    sync_seconds: float = Field(default=1.0, gt=0, le=5)
