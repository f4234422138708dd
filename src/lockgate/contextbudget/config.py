"""``context:`` in the config: a budget per alias."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ContextBudget", "ContextSettings", "Strategy"]

Strategy = Literal["error", "truncate_middle", "drop_oldest"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ContextBudget(_Model):
    #: most input tokens sent; unset: the model's window less the answer's max_tokens
    max_input_tokens: int | None = Field(default=None, gt=0)
    #: over budget: refuse (400), cut turns after the first exchange, or cut the oldest
    strategy: Strategy = "error"
    #: never cut system/developer messages
    keep_system: bool = True
    #: when a cut is needed, free at least this share of the budget at once, at turn
    #: boundaries that stay put as the chat grows: the next requests then share the
    #: cut prompt's prefix (provider cache hits) until the next cut.  0 cuts only what
    #: is needed each time (a naive middle-out: the prefix changes every turn)
    cut_share: float = Field(default=0.5, ge=0.0, le=0.9)
    #: truncate_middle: besides the first exchange, keep the opening turns that fit in
    #: this share of the budget.  A longer kept start is a longer prefix every cut
    #: leaves cached, at the price of fewer recent turns (bench/bench_context_cache.py)
    keep_head_share: float = Field(default=0.0, ge=0.0, le=0.8)
    #: lossless compression: whitespace normalised, repeated tool results replaced by a
    #: pointer to the earlier identical one
    compress: bool = False


class ContextSettings(_Model):
    aliases: dict[str, ContextBudget] = Field(default_factory=dict)
