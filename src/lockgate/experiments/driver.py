"""Drives running rollouts: the replica holding a rollout's lease runs its due checks.

Every ``tick`` seconds each replica reads the running rollouts (state lives in the
database, so a restart loses nothing); for each whose next check is due it tries to
take the lease ``rollout:<name>`` (a conditional UPDATE: one holder at a time, taken
over when it lapses), reads both arms' guard metrics from the usage rows since the
step began, applies the check, and saves the state.  A passed final step moves the
label; a rollback leaves it where it was, so the old version serves everything at once.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable

import structlog

from lockgate.experiments.events import EventLog
from lockgate.experiments.repository import ExperimentRepository, rollout_tag
from lockgate.experiments.rollout import ArmStats, RolloutState, advance, check
from lockgate.experiments.spec import RolloutSpec
from lockgate.prompts.repository import PromptRepository
from lockgate.task_stop import stop_tasks

__all__ = ["RolloutDriver"]

log = structlog.get_logger("lockgate.rollouts")


class RolloutDriver:
    def __init__(
        self,
        repo: ExperimentRepository,
        prompts: PromptRepository,
        events: EventLog,
        *,
        tick: float = 1.0,
        lease: float = 10.0,
        clock: Callable[[], float] = time.time,
        flush: Callable[[], Awaitable[None]] | None = None,
        changed: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self.repo = repo
        self.prompts = prompts
        self.events = events
        self.holder = uuid.uuid4().hex[:16]
        self.tick_seconds = tick
        self.lease_seconds = lease
        self._clock = clock
        self._flush = flush
        self._changed = changed
        self._task: asyncio.Task[None] | None = None

    async def tick(self) -> int:
        """Run every due check this replica can lease; how many ran."""
        ran = 0
        for spec, state in await self.repo.rollouts("running"):
            if state.next_check_at > self._clock():
                continue
            lease = f"rollout:{spec.name}"
            if not await self.repo.acquire_lease(lease, self.holder, self.lease_seconds):
                continue
            await self.check(spec, state)
            ran += 1
        return ran

    async def check(self, spec: RolloutSpec, state: RolloutState) -> None:
        if self._flush is not None:
            await self._flush()
        arms = await self.repo.arm_stats(rollout_tag(spec.name), state.step_started_at)
        canary, stable = arms.get("canary", ArmStats()), arms.get("stable", ArmStats())
        result, reasons = check(spec, canary, stable)
        events = advance(spec, state, result, reasons, self._clock(), state.next_check_at)
        actor = f"rollout:{spec.name}"
        if state.status == "succeeded":
            # Label first: until the state says "succeeded" replicas serve the new version
            # at the last step's 100% anyway, so no request goes back to the old one.
            await self.prompts.move_label(
                spec.prompt, spec.label, spec.to_version, actor, "rollout done"
            )
        if not await self.repo.save_rollout(spec.name, state):
            if state.status == "succeeded":  # aborted while this check ran: undo
                await self.prompts.move_label(
                    spec.prompt, spec.label, state.from_version, actor, "rollout aborted"
                )
            return
        facts = {"canary": canary.to_json(), "stable": stable.to_json()}
        for event in events:
            self.events.rollout(spec.name, event, facts)
        if self._changed is not None:
            await self._changed()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="lockgate-rollouts")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.tick_seconds)
            try:
                await self.tick()
            except Exception as exc:  # the database may be down; try again next tick
                log.warning("rollout tick failed", error=str(exc))

    async def aclose(self) -> None:
        if self._task is not None:
            await stop_tasks([self._task], "rollout driver")
            self._task = None
