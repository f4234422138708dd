"""The ``prompts:`` section of the config file."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["PromptSettings"]


class PromptSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: a folder of prompt files (*.yaml, *.yml, *.json) loaded at start-up
    directory: str | None = None
    #: who wins when a file and the database disagree: "file" pushes every file as a new
    #: version (when its content changed) and moves the file's labels to it; "db" only
    #: seeds prompts the database does not know yet
    source_of_truth: Literal["file", "db"] = "db"
    #: how often each replica polls the change counter (label moves, experiments, rollouts)
    poll_interval_seconds: float = Field(default=1.0, gt=0, le=5)
    #: how often the replica holding a rollout's lease looks for due checks
    rollout_tick_seconds: float = Field(default=1.0, gt=0)
    #: a rollout lease's lifetime; another replica takes over after it lapses
    lease_seconds: float = Field(default=10.0, gt=0)
