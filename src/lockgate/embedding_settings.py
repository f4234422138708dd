"""The ``embeddings:`` section of the config file (micro-batching of embedding calls)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["EmbeddingBatchSettings"]


class EmbeddingBatchSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: merge concurrent single-input calls (set false to send each as it comes)
    batching: bool = True
    #: how long the first call of a batch waits for company
    batch_window_ms: float = Field(default=5.0, ge=0, le=1000)
    #: send a call at once, alone, when no upstream call to its deployment is in
    #: progress (nothing to wait behind: a quiet gateway adds no wait); calls arriving
    #: while one is upstream gather for up to the window
    adaptive_window: bool = True
    max_batch_inputs: int = Field(default=2048, ge=1)
    max_batch_tokens: int = Field(default=300_000, ge=1)
