"""``routing:`` in the config: aliases that pick a strong or a weak model per request."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["RouteSpec", "RoutingSettings"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RouteSpec(_Model):
    """One routing alias. Give one of ``target_strong_share``, ``quality_floor`` or
    ``threshold``; with none, ``quality_floor: 0.95`` applies."""

    strong: str = Field(description="alias answering the requests predicted to need it")
    weak: str = Field(description="alias answering everything else")
    #: send about this share of requests to the strong alias (threshold follows the
    #: live score distribution of this alias's own traffic)
    target_strong_share: float | None = Field(default=None, ge=0.0, le=1.0)
    #: keep at least this share of the strong model's quality (threshold from the
    #: shipped calibration; `lockgate route calibrate` refits it on your traffic)
    quality_floor: float | None = Field(default=None, ge=0.5, le=1.0)
    #: a fixed score threshold (scores above it go to the strong alias)
    threshold: float | None = None
    #: how many recent scores the live threshold for a target share is taken from
    window: int = Field(default=2000, ge=50, le=100_000)

    @model_validator(mode="after")
    def _one_goal(self) -> RouteSpec:
        goals = [self.target_strong_share, self.quality_floor, self.threshold]
        if sum(g is not None for g in goals) > 1:
            raise ValueError("give one of target_strong_share, quality_floor or threshold")
        if self.strong == self.weak:
            raise ValueError("strong and weak must be different aliases")
        return self


class RoutingSettings(_Model):
    aliases: dict[str, RouteSpec] = Field(default_factory=dict)

    def targets(self) -> dict[str, tuple[str, str]]:
        """Each alias's (strong, weak): what a reload cannot change without a restart
        (its goals it can: ``RouteStage.retarget``)."""
        return {name: (spec.strong, spec.weak) for name, spec in self.aliases.items()}
