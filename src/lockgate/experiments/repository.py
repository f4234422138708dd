"""Experiments, rollouts and leases in the database, and the observations per variant."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lockgate.errors import BadRequestError, NotFoundError
from lockgate.experiments.observations import Observations, collapse
from lockgate.experiments.rollout import ArmStats, RolloutState
from lockgate.experiments.spec import ExperimentSpec, RolloutSpec
from lockgate.prompts.repository import note_change
from lockgate.storage.database import Database
from lockgate.storage.lean_import import lazy_module

if TYPE_CHECKING:
    import sqlalchemy as sa
    from sqlalchemy import exc as sa_exc
    from sqlalchemy.engine import Row
    from sqlalchemy.ext.asyncio import AsyncEngine

    from lockgate.prompts import tables
    from lockgate.usage import tables as usage
else:  # imported on first use (storage/lean_import.py)
    sa = lazy_module("sqlalchemy")
    sa_exc = lazy_module("sqlalchemy.exc")
    tables = lazy_module("lockgate.prompts.tables")
    usage = lazy_module("lockgate.usage.tables")

__all__ = ["ExperimentRepository", "rollout_tag"]


def rollout_tag(name: str) -> str:
    """The usage rows' ``experiment`` value for a rollout's traffic."""
    return f"rollout:{name}"


class ExperimentRepository:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    @property
    def _engine(self) -> AsyncEngine:
        return self._db.engine

    # -- experiments ------------------------------------------------------------------

    async def create_experiment(self, spec: ExperimentSpec) -> None:
        now = self._clock()
        try:
            async with self._engine.begin() as conn:
                await conn.execute(
                    tables.experiments.insert().values(
                        name=spec.name,
                        spec=spec.model_dump(mode="json"),
                        state="running",
                        created_at=now,
                        updated_at=now,
                    )
                )
                await note_change(conn, "experiment", spec.name, now)
        except sa_exc.IntegrityError:
            raise BadRequestError(f"Experiment {spec.name!r} exists.", param="name") from None

    async def experiment(self, name: str) -> dict[str, Any]:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(tables.experiments).where(tables.experiments.c.name == name)
                )
            ).first()
        if row is None:
            raise NotFoundError(f"No experiment {name!r}.")
        return {**row._mapping, "spec": ExperimentSpec.model_validate(row._mapping["spec"])}

    async def experiments(self, state: str | None = None) -> list[dict[str, Any]]:
        if state is not None and await self._db.surely_empty(
            "SELECT 1 FROM experiments WHERE state = ? LIMIT 1", state
        ):
            return []  # none (the common case): known without SQLAlchemy
        stmt = sa.select(tables.experiments).order_by(tables.experiments.c.name)
        if state is not None:
            stmt = stmt.where(tables.experiments.c.state == state)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return [
            {**r._mapping, "spec": ExperimentSpec.model_validate(r._mapping["spec"])} for r in rows
        ]

    async def end_experiment(self, name: str, state: str, decision: dict[str, Any] | None) -> None:
        now = self._clock()
        async with self._engine.begin() as conn:
            await conn.execute(
                tables.experiments.update()
                .where(tables.experiments.c.name == name)
                .values(state=state, updated_at=now, decision=decision)
            )
            await note_change(conn, "experiment", name, now)

    async def observations(
        self, tag: str, since: float = 0.0, unit: str = "request"
    ) -> dict[str, Observations]:
        """Per variant: the requests tagged ``tag`` since ``since`` and their ratings,
        collapsed to one value per assignment unit (``unit="request"``: per request)."""
        u, f = usage.usage_records.c, usage.feedback.c
        # Experiments store a hash of the unit on each usage row; rollouts split per request.
        unit_col = sa.func.coalesce(u.unit, u.request_id) if unit != "request" else u.request_id
        served = sa.select(
            u.variant,
            unit_col,
            u.status,
            u.latency_ms,
            u.cost_usd,
            u.prompt_tokens + u.completion_tokens,
        ).where(u.experiment == tag, u.started_at >= since)
        rated = (
            sa.select(u.variant, unit_col, f.score, f.thumbs, f.task_completed, f.judge_score)
            .select_from(usage.feedback.join(usage.usage_records, f.request_id == u.request_id))
            .where(u.experiment == tag, u.started_at >= since)
        )
        async with self._engine.connect() as conn:
            requests = [tuple(r) for r in (await conn.execute(served)).all()]
            ratings = [tuple(r) for r in (await conn.execute(rated)).all()]
        return collapse(requests, ratings)

    async def arm_stats(self, tag: str, since: float) -> dict[str, ArmStats]:
        """The guard metrics per rollout arm (``canary`` / ``stable``) since ``since``."""
        import numpy as np  # only once a rollout runs: the serving path stays numpy-free

        out: dict[str, ArmStats] = {}
        for arm, obs in (await self.observations(tag, since)).items():
            out[arm] = ArmStats(
                requests=obs.requests,
                errors=int(sum(obs.error)),
                p95_ms=float(np.percentile(obs.latency_raw, 95)) if obs.latency_raw else None,
                mean_score=float(np.mean(obs.score)) if obs.score else None,
                mean_judge=float(np.mean(obs.judge_score)) if obs.judge_score else None,
                cost_per_request=float(np.mean(obs.cost_usd)) if obs.cost_usd else 0.0,
            )
        return out

    # -- rollouts ---------------------------------------------------------------------

    async def create_rollout(self, spec: RolloutSpec, state: RolloutState) -> None:
        now = self._clock()
        try:
            async with self._engine.begin() as conn:
                busy = (
                    await conn.execute(
                        sa.select(tables.rollouts.c.name, tables.rollouts.c.spec).where(
                            tables.rollouts.c.status == "running"
                        )
                    )
                ).all()
                for name, other in busy:
                    if other["prompt"] == spec.prompt and other["label"] == spec.label:
                        raise BadRequestError(
                            f"Rollout {name!r} is already moving {spec.prompt}@{spec.label}."
                        )
                await conn.execute(
                    tables.rollouts.insert().values(
                        name=spec.name,
                        spec=spec.model_dump(mode="json"),
                        state=state.to_json(),
                        status=state.status,
                        updated_at=now,
                    )
                )
                await note_change(conn, "rollout", spec.name, now)
        except sa_exc.IntegrityError:
            raise BadRequestError(f"Rollout {spec.name!r} exists.", param="name") from None

    async def save_rollout(self, name: str, state: RolloutState) -> bool:
        """Store a running rollout's new state; False (nothing written) if it stopped
        meanwhile (an abort between a check's read and its write wins)."""
        now = self._clock()
        async with self._engine.begin() as conn:
            result = await conn.execute(
                tables.rollouts.update()
                .where(tables.rollouts.c.name == name, tables.rollouts.c.status == "running")
                .values(state=state.to_json(), status=state.status, updated_at=now)
            )
            if result.rowcount != 1:
                return False
            await note_change(conn, "rollout", name, now)
        return True

    async def rollout(self, name: str) -> tuple[RolloutSpec, RolloutState]:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(sa.select(tables.rollouts).where(tables.rollouts.c.name == name))
            ).first()
        if row is None:
            raise NotFoundError(f"No rollout {name!r}.")
        m = row._mapping
        return RolloutSpec.model_validate(m["spec"]), RolloutState.from_json(m["state"])

    async def rollouts(self, status: str | None = None) -> list[tuple[RolloutSpec, RolloutState]]:
        if status is not None and await self._db.surely_empty(
            "SELECT 1 FROM rollouts WHERE status = ? LIMIT 1", status
        ):
            return []  # none (the driver's every tick): known without SQLAlchemy
        stmt = sa.select(tables.rollouts).order_by(tables.rollouts.c.name)
        if status is not None:
            stmt = stmt.where(tables.rollouts.c.status == status)

        async def read(engine: AsyncEngine) -> list[Row[Any]]:
            async with engine.connect() as conn:
                return list((await conn.execute(stmt)).all())

        # polled every tick by the rollout driver: off the request loop
        rows = await self._db.poll(read)
        return [
            (
                RolloutSpec.model_validate(r._mapping["spec"]),
                RolloutState.from_json(r._mapping["state"]),
            )
            for r in rows
        ]

    # -- leases -----------------------------------------------------------------------

    async def acquire_lease(self, name: str, holder: str, ttl: float) -> bool:
        """Take or renew the lease ``name`` for ``ttl`` seconds; False if another holds it."""
        now = self._clock()
        lc = tables.leases.c
        async with self._engine.begin() as conn:
            result = await conn.execute(
                tables.leases.update()
                .where(lc.name == name, sa.or_(lc.holder == holder, lc.expires_at < now))
                .values(holder=holder, expires_at=now + ttl)
            )
            if result.rowcount == 1:
                return True
        try:
            async with self._engine.begin() as conn:
                await conn.execute(
                    tables.leases.insert().values(name=name, holder=holder, expires_at=now + ttl)
                )
        except sa_exc.IntegrityError:
            return False
        return True

    async def release_lease(self, name: str, holder: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                tables.leases.delete().where(
                    tables.leases.c.name == name, tables.leases.c.holder == holder
                )
            )
