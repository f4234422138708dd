"""The ``evaluation:`` section of the config file.

::

    evaluation:
      online:
        enabled: true
        judge: judge                 # the judge's model alias
        rubric: default              # the five criteria; or text, a list or a mapping
        threshold: 0.7               # a score at or above it counts as a pass
        sample_rate: 0.02            # of every alias not listed below
        aliases: {support-bot: 0.1}
        prompt_versions: {"support@v7": 0.5}   # wins over the alias's rate
        budget_usd_per_day: 5.0
        rate_per_minute: 30
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["EvaluationSettings", "OnlineSettings"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OnlineSettings(_Model):
    enabled: bool = False
    judge: str | None = None
    rubric: Any = "default"
    threshold: float = Field(default=0.7, ge=0, le=1)
    sample_rate: float = Field(default=0.0, ge=0, le=1)
    aliases: dict[str, float] = Field(default_factory=dict)
    prompt_versions: dict[str, float] = Field(default_factory=dict)
    #: judge spend per UTC day; beyond it sampled requests are skipped (and counted)
    budget_usd_per_day: float = Field(default=1.0, ge=0)
    #: judge calls per minute at most
    rate_per_minute: float = Field(default=60.0, gt=0)
    #: sampled requests waiting at most; beyond it new samples are dropped (and counted)
    max_queue: int = Field(default=1000, ge=1)
    #: judge calls in flight at once
    concurrency: int = Field(default=2, ge=1, le=64)

    @model_validator(mode="after")
    def _rates(self) -> OnlineSettings:
        if self.enabled and not self.judge:
            raise ValueError("evaluation.online needs a judge alias when enabled")
        for name, rate in [*self.aliases.items(), *self.prompt_versions.items()]:
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"sample rate of {name!r} must be between 0 and 1")
        return self


class EvaluationSettings(_Model):
    online: OnlineSettings = Field(default_factory=OnlineSettings)

    def check_aliases(self, known: set[str]) -> None:
        """ValueError when the online judge is not a configured alias."""
        judge = self.online.judge
        if self.online.enabled and judge not in known:
            raise ValueError(f"evaluation.online.judge: unknown model_name {judge!r}")
