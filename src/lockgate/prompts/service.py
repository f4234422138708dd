"""The prompt service the app holds: registry, stage, rollout driver, event log."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from lockgate.experiments.driver import RolloutDriver
from lockgate.experiments.events import EventLog, RolloutMetrics
from lockgate.experiments.repository import ExperimentRepository
from lockgate.prompts.config import PromptSettings
from lockgate.prompts.files import load_prompt_files, sync_files
from lockgate.prompts.registry import PromptRegistry
from lockgate.prompts.repository import PromptRepository
from lockgate.prompts.stage import PromptStage
from lockgate.records import RecordSink
from lockgate.storage.database import Database

__all__ = ["PromptService", "build_prompt_service", "open_registry"]


@dataclass(slots=True)
class PromptService:
    prompts: PromptRepository
    experiments: ExperimentRepository
    registry: PromptRegistry
    stage: PromptStage
    driver: RolloutDriver
    events: EventLog

    async def aclose(self) -> None:
        await self.driver.aclose()
        await self.registry.aclose()


async def build_prompt_service(
    settings: PromptSettings,
    db: Database,
    sinks: Sequence[RecordSink],
    metrics: CollectorRegistry | None = None,
    flush: Callable[[], Awaitable[None]] | None = None,
) -> PromptService:
    """Sync prompt files, load the registry and start its poll and the rollout driver."""
    prompts = PromptRepository(db)
    experiments = ExperimentRepository(db)
    if settings.directory is not None:
        await sync_files(prompts, load_prompt_files(settings.directory), settings.source_of_truth)
    registry = PromptRegistry(prompts, experiments, poll_interval=settings.poll_interval_seconds)
    events = EventLog(sinks, RolloutMetrics(metrics))
    driver = RolloutDriver(
        experiments,
        prompts,
        events,
        tick=settings.rollout_tick_seconds,
        lease=settings.lease_seconds,
        flush=flush,
        changed=registry.refresh,
    )
    await registry.start()
    await driver.start()
    return PromptService(prompts, experiments, registry, PromptStage(registry), driver, events)


@contextlib.asynccontextmanager
async def open_registry(
    database_url: str, *, migrate: bool = True
) -> AsyncIterator[PromptRegistry]:
    """A read-only registry on a gateway's database, for tools outside the gateway::

    async with open_registry("sqlite+aiosqlite:///./lockgate-data/lockgate.db") as reg:
        res = await reg.get("support@production")     # or "support@7"
        messages = res.render({"question": "Where is my parcel?"})
        print(res.ref, res.model, messages)
    """
    db = Database(database_url)
    try:
        if migrate:
            await db.migrate()
        registry = PromptRegistry(PromptRepository(db), ExperimentRepository(db))
        await registry.refresh(force=True)
        yield registry
    finally:
        await db.aclose()
