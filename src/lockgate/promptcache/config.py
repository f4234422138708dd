"""``prompt_cache:`` in the config."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["PromptCacheSettings"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PromptCacheSettings(_Model):
    #: aliases served by Anthropic whose requests without any ``cache_control`` get
    #: breakpoints on their stable prefix (tools, system, the conversation so far)
    auto_cache: list[str] = Field(default_factory=list)
    #: the breakpoints' ttl: Anthropic's 5-minute default, or one hour (writes cost 2x)
    ttl: Literal["5m", "1h"] = "5m"
