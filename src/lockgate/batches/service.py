"""What the gateway holds for batches: the store, the settings, and the runner."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from lockgate.auth.keys import Principal
from lockgate.batches.config import BatchSettings
from lockgate.batches.journal import AnswerJournal
from lockgate.batches.runner import BatchRunner, Execute, owner_id
from lockgate.batches.store import BatchStore
from lockgate.storage.database import Database, sqlite_file

if TYPE_CHECKING:
    from lockgate.batches.handoff import ProviderHandoff
    from lockgate.services import Services

__all__ = ["BatchService", "build_batches"]


@dataclass(slots=True)
class BatchService:
    settings: BatchSettings
    store: BatchStore
    #: upstream answers written down as they arrive (a line re-run after a crash finds
    #: its answer there instead of being sent again)
    journal: AnswerJournal
    runner: BatchRunner | None = field(default=None)
    #: drives batches handed to the providers' batch APIs (``handoff: auto``)
    handoff: ProviderHandoff | None = field(default=None)
    #: key id -> (loaded at, principal): one key lookup per second, not per line
    principals: dict[str, tuple[float, Principal]] = field(default_factory=dict)

    def start(
        self, execute: Execute, interactive_inflight: Callable[[], float], svc: Services
    ) -> None:
        self.runner = BatchRunner(
            self.store,
            execute,
            self.settings,
            interactive_inflight=interactive_inflight,
            owner=self.journal.owner,
            journal=self.journal,
        )
        self.runner.start()
        if self.settings.handoff != "off":
            from lockgate.batches.handoff import ProviderHandoff

            self.handoff = ProviderHandoff(svc, self.settings, self.runner.owner)
            self.handoff.start()

    async def aclose(self) -> None:
        if self.handoff is not None:
            await self.handoff.aclose()
        if self.runner is not None:
            await self.runner.stop()


def _default_dir(db: Database) -> Path:
    path = sqlite_file(db.url)
    if path is not None:
        return Path(path).parent / "files"
    return Path("lockgate-data") / "files"


def build_batches(settings: BatchSettings, db: Database) -> BatchService | None:
    if not settings.enabled:
        return None
    root = Path(settings.storage_dir) if settings.storage_dir else _default_dir(db)
    journal = AnswerJournal(root / "journal", owner_id())
    store = BatchStore(
        db, root, resend_after_crash=settings.after_crash == "resend", journal=journal
    )
    return BatchService(settings, store, journal)
