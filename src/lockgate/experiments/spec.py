"""Experiment and rollout definitions, validated once (pure).

An experiment::

    name: support-tone
    prompt: support            # the prompt whose label's traffic is split
    label: production
    unit: user                 # user | session | key: what keeps an assignment sticky
    session_header: x-session-id
    metric: thumbs             # the primary metric the decision is made on
    variants:                  # the first variant is the control
      - {name: control, weight: 50}                       # the label's version
      - {name: terse, version: 4, weight: 50}             # and/or model: <alias>

A rollout moves ``label`` from its current version to ``to_version`` in steps::

    name: support-v5
    prompt: support
    to_version: 5
    steps: [5, 25, 50, 100]     # percent of the label's traffic on the new version
    interval_seconds: 60        # analysis interval per check
    failure_limit: 2            # consecutive failed checks before rolling back
    guards: {max_error_rate_increase: 0.02, max_p95_latency_ratio: 1.5}
"""

from __future__ import annotations

import itertools
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from lockgate.errors import BadRequestError
from lockgate.prompts.spec import LABEL_PATTERN, NAME_PATTERN

__all__ = [
    "METRICS",
    "ExperimentSpec",
    "Guards",
    "Metric",
    "RolloutSpec",
    "Unit",
    "Variant",
    "parse_model",
]

Metric = Literal[
    "thumbs",
    "score",
    "task_completed",
    "judge_score",
    "error_rate",
    "latency_ms",
    "cost_usd",
    "tokens",
]
METRICS: tuple[Metric, ...] = (
    "thumbs",
    "score",
    "task_completed",
    "judge_score",
    "error_rate",
    "latency_ms",
    "cost_usd",
    "tokens",
)
#: the effect each metric's mixture is tuned for when ``mde`` is not given
DEFAULT_MDE: dict[str, float] = {
    "thumbs": 0.05,
    "score": 0.1,
    "task_completed": 0.05,
    "judge_score": 0.1,
    "error_rate": 0.02,
    "latency_ms": 100.0,
    "cost_usd": 0.0005,
    "tokens": 50.0,
}
LOWER_IS_BETTER = frozenset({"error_rate", "latency_ms", "cost_usd", "tokens"})
Unit = Literal["user", "session", "key", "request"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Variant(_Model):
    name: str = Field(pattern=LABEL_PATTERN)
    version: int | None = Field(default=None, ge=1)
    model: str | None = None
    weight: float = Field(default=1.0, gt=0)


class ExperimentSpec(_Model):
    name: str = Field(pattern=NAME_PATTERN)
    prompt: str = Field(pattern=NAME_PATTERN)
    label: str = Field(default="production", pattern=LABEL_PATTERN)
    unit: Unit = "user"
    session_header: str = "x-session-id"
    seed: str | None = None
    metric: Metric = "thumbs"
    alpha: float = Field(default=0.05, gt=0, lt=0.5)
    mde: float | None = Field(default=None, gt=0)
    variants: list[Variant] = Field(min_length=2, max_length=10)

    @model_validator(mode="after")
    def _distinct(self) -> ExperimentSpec:
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names):
            raise ValueError("variant names must be distinct")
        arms = [(v.version, v.model) for v in self.variants]
        if len(set(arms)) != len(arms):
            raise ValueError("variants must differ in version and/or model")
        return self

    @property
    def hash_seed(self) -> str:
        return self.seed or self.name

    @property
    def tau2(self) -> float:
        mde = self.mde if self.mde is not None else DEFAULT_MDE[self.metric]
        return mde * mde


class Guards(_Model):
    """Canary minus stable limits; a check fails when any is crossed (None: not checked)."""

    max_error_rate_increase: float | None = Field(default=0.02, ge=0)
    max_p95_latency_ratio: float | None = Field(default=1.5, gt=0)
    min_feedback_delta: float | None = None
    min_judge_delta: float | None = None
    max_cost_ratio: float | None = Field(default=1.5, gt=0)


class RolloutSpec(_Model):
    name: str = Field(pattern=NAME_PATTERN)
    prompt: str = Field(pattern=NAME_PATTERN)
    label: str = Field(default="production", pattern=LABEL_PATTERN)
    to_version: int = Field(ge=1)
    steps: list[float] = Field(default_factory=lambda: [5.0, 25.0, 50.0, 100.0], min_length=1)
    interval_seconds: float = Field(default=60.0, gt=0)
    failure_limit: int = Field(default=2, ge=1)
    #: canary requests a check needs; with fewer it is inconclusive (neither pass nor fail)
    min_requests: int = Field(default=20, ge=1)
    unit: Unit = "request"
    session_header: str = "x-session-id"
    guards: Guards = Field(default_factory=Guards)

    @model_validator(mode="after")
    def _steps(self) -> RolloutSpec:
        s = self.steps
        if any(not 0 < x <= 100 for x in s) or any(b <= a for a, b in itertools.pairwise(s)):
            raise ValueError("steps must rise strictly within (0, 100]")
        if s[-1] != 100:
            raise ValueError("the last step must be 100")
        return self


def parse_model(kind: type[_Model], data: Any) -> Any:
    """Validate ``data`` as ``kind``; a ``BadRequestError`` naming the field otherwise."""
    if not isinstance(data, dict):
        raise BadRequestError("Request body must be a JSON object.")
    try:
        return kind.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "(root)"
        raise BadRequestError(f"{loc}: {err['msg']}", param=loc) from None
