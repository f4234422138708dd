"""Online judge scores beside feedback in the usage database, and their per-variant summary.

Migration 0011 creates ``eval_scores``; a row per judged request.  ``summary`` groups by
model and prompt version, the same grouping ``/admin/feedback`` uses, so an experiment or
rollout can read a judge score per variant next to its human feedback.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from lockgate.storage.database import Database
from lockgate.usage.tables import feedback

__all__ = ["OnlineScore", "OnlineScoreRepository", "ScoreSummary", "eval_scores"]

metadata = sa.MetaData()

eval_scores = sa.Table(
    "eval_scores",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.String(128), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("day", sa.String(10), nullable=False),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("prompt_version", sa.String(64)),
    sa.Column("judge", sa.String(200), nullable=False),
    sa.Column("rubric", sa.String(64), nullable=False),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("passed", sa.Boolean, nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("cost_usd", sa.Float, nullable=False),
)


@dataclass(frozen=True, slots=True)
class OnlineScore:
    request_id: str
    created_at: float
    day: str
    model: str
    prompt_version: str | None
    judge: str
    rubric: str
    score: float
    passed: bool
    reason: str
    cost_usd: float


@dataclass(frozen=True, slots=True)
class ScoreSummary:
    model: str
    prompt_version: str | None
    count: int
    mean_score: float
    #: normal-approximation 95% interval of the mean (None below two scores)
    ci_low: float | None
    ci_high: float | None
    pass_rate: float

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "prompt_version": self.prompt_version,
            "count": self.count,
            "mean_score": round(self.mean_score, 6),
            "ci_low": None if self.ci_low is None else round(self.ci_low, 6),
            "ci_high": None if self.ci_high is None else round(self.ci_high, 6),
            "pass_rate": round(self.pass_rate, 6),
        }


class OnlineScoreRepository:
    def __init__(self, db: Database) -> None:
        self._engine = db.engine

    async def add(self, score: OnlineScore) -> None:
        """One score row; and, where the feedback table has a ``judge_score`` column (the
        prompt registry's migration adds it), a feedback row carrying it, so experiments
        and rollouts read a per-variant judge score from the same join as human feedback."""
        async with self._engine.begin() as conn:
            await conn.execute(
                eval_scores.insert(),
                {
                    "request_id": score.request_id,
                    "created_at": score.created_at,
                    "day": score.day,
                    "model": score.model,
                    "prompt_version": score.prompt_version,
                    "judge": score.judge,
                    "rubric": score.rubric,
                    "score": score.score,
                    "passed": score.passed,
                    "reason": score.reason[:2000],
                    "cost_usd": score.cost_usd,
                },
            )
            if "judge_score" in feedback.c:
                await conn.execute(
                    feedback.insert(),
                    {
                        "request_id": score.request_id,
                        "created_at": score.created_at,
                        "model": score.model,
                        "prompt_version": score.prompt_version,
                        "judge_score": score.score,
                        "comment": f"online judge {score.judge}: {score.reason}"[:2000],
                    },
                )

    async def summary(self, model: str | None = None) -> list[ScoreSummary]:
        s = eval_scores.c
        passed = sa.case((s.passed.is_(True), 1), else_=0)
        stmt = (
            sa.select(
                s.model,
                s.prompt_version,
                sa.func.count().label("n"),
                sa.func.avg(s.score).label("mean"),
                sa.func.avg(s.score * s.score).label("mean_sq"),
                sa.func.sum(passed).label("passed"),
            )
            .group_by(s.model, s.prompt_version)
            .order_by(s.model, s.prompt_version)
        )
        if model is not None:
            stmt = stmt.where(s.model == model)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).mappings().all()
        out = []
        for m in rows:
            n = int(m["n"])
            mean = float(m["mean"])
            low = high = None
            if n >= 2:
                var = max(0.0, (float(m["mean_sq"]) - mean * mean) * n / (n - 1))
                half = 1.959963984540054 * math.sqrt(var / n)
                low, high = max(0.0, mean - half), min(1.0, mean + half)
            out.append(
                ScoreSummary(
                    m["model"], m["prompt_version"], n, mean, low, high, int(m["passed"] or 0) / n
                )
            )
        return out
