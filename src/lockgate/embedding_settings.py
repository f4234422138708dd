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
    #: send a call at once, alone, when fewer than one other call to the same deployment
    #: is expected within the window (recent gaps between calls): below saturation the
    #: window would add latency without merging anything
    adaptive_window: bool = True
    max_batch_inputs: int = Field(default=2048, ge=1)
    max_batch_tokens: int = Field(default=300_000, ge=1)
