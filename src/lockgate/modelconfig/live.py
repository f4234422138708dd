"""Live model configuration: every process serves the config file's model_list plus the
entries stored through ``/admin/models``, and rebuilds its router when either changes.

* A stored change moves ``model_changes.version`` (read every ``live_models.sync_seconds``)
  and, with Redis, is announced on ``lockgate:models``: every replica converges within
  the poll interval, at once with Redis.
* ``SIGHUP`` re-reads the config file; a file that does not validate (or whose routing
  aliases lose their targets) is refused in one log line and the running config stays.
  Sections other than model_list, router_settings' fallbacks/group aliases and the
  routing aliases' goals (threshold, target share, quality floor) need a restart; a
  reload names them.  A file is refused, too, if the gateway could not restart on it
  (e.g. a context budget or auto_cache alias it no longer serves).
* Stages that depend on the models served (context budgets' windows and tokenizers,
  auto_cache's Anthropic-only aliases) follow every change, file or stored; an alias
  that no longer qualifies is left out of them with one log line.

A rebuild swaps the dispatcher's routing table: requests in flight finish with the one
they started with, and unchanged deployments keep their breakers and quotas.  Limits,
caches and keys live elsewhere and are untouched.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from lockgate.auth.changes import KeyChangeFeed
from lockgate.dispatcher import Dispatcher
from lockgate.errors import GatewayError
from lockgate.modelconfig.core import (
    StoredEntry,
    changed_sections,
    merged_deployments,
    parse_entry,
    unchanged_ids,
)
from lockgate.modelconfig.repository import ModelRepository
from lockgate.router import Router
from lockgate.routing.config import RouteSpec
from lockgate.settings import ConfigError, ModelEntry, Settings, load_settings, text_digest
from lockgate.task_stop import stop_tasks

__all__ = ["CHANNEL", "Follower", "LiveModels"]

#: given the file's model_list and a new router, prepares what to apply once it is in force
Follower = Callable[[Sequence[ModelEntry], Router], Callable[[], None]]

CHANNEL = "lockgate:models"
log = logging.getLogger("lockgate.models")


class LiveModels:
    def __init__(
        self,
        settings: Settings,
        repo: ModelRepository,
        dispatcher: Dispatcher,
        *,
        config_path: str | Path | None = None,
        redis_url: str | None = None,
    ) -> None:
        self.repo = repo
        self.settings = settings
        self._dispatcher = dispatcher
        self._path = config_path
        self._redis_url = redis_url
        #: called with the new file settings after a reload installed them
        self.on_settings: Callable[[Settings], None] | None = None
        #: called with a reloaded file's routing aliases (their goals apply live)
        self.on_routing: Callable[[Mapping[str, RouteSpec]], object] | None = None
        #: stages that follow the models served (context budgets, auto_cache): each gets
        #: the file's model_list and the new router, and returns what to run once the
        #: router is in force
        self.followers: list[Follower] = []
        #: what a reloaded file must pass to be taken, as at start-up (a ConfigError
        #: refuses the reload: a file the gateway could not restart on is not served)
        self.restart_checks: list[Callable[[Settings, Router], object]] = []
        self._wake = asyncio.Event()
        self._feed = KeyChangeFeed(
            repo,
            self._wake.set,
            interval=settings.live_models.sync_seconds,
            redis_url=redis_url,
            channel=CHANNEL,
        )
        self._task: asyncio.Task[None] | None = None
        self._bad: set[str] = set()
        #: routers built so far (1 = the start-up one)
        self.generation = 0

    async def start(self) -> None:
        await self.refresh()
        await self._feed.start()
        self._task = asyncio.create_task(self._run(), name="model-config-reload")

    async def aclose(self) -> None:
        await self._feed.aclose()
        if self._task is not None:
            await stop_tasks([self._task], "model config refresh")

    def reserved(self) -> set[str]:
        """Names a stored entry may not take: group and routing aliases."""
        names = set(self.settings.router_settings.group_aliases())
        return names | set(self._dispatcher.router.added_aliases)

    def parse(self, raw: object) -> ModelEntry:
        """A posted entry, validated as a config file entry (ConfigError if not)."""
        return parse_entry(raw, reserved=self.reserved())

    async def announce(self) -> None:
        """Tell every replica (this one included) to rebuild now."""
        from lockgate.auth.changes import announce_key_change

        await announce_key_change(self._redis_url, CHANNEL)
        await self.refresh()

    async def refresh(self) -> None:
        """Rebuild from the file settings in force and the stored entries."""
        stored = await self.repo.list()
        self._install(self.settings, self._valid(stored))

    def _valid(self, stored: list[StoredEntry]) -> list[tuple[str, ModelEntry]]:
        out = []
        for row in stored:
            try:
                out.append((row.id, parse_entry(dict(row.raw))))
            except ConfigError as exc:
                if row.id not in self._bad:  # once per entry, not once per poll
                    self._bad.add(row.id)
                    reason = " ".join(str(exc).split())
                    log.warning("stored model entry %s skipped on this replica: %s", row.id, reason)
        return out

    def _install(
        self, settings: Settings, stored: list[tuple[str, ModelEntry]], *, restart: bool = False
    ) -> None:
        old = self._dispatcher.router
        groups = settings.router_settings.group_aliases()
        if restart:  # a new file: what start-up checks sees the file's models only
            file_only = old.rebuilt(merged_deployments(settings.model_list, []), groups)
            for check in self.restart_checks:
                check(settings, file_only)
        router = old.rebuilt(merged_deployments(settings.model_list, stored), groups)
        then = [follow(settings.model_list, router) for follow in self.followers]
        keep = unchanged_ids(old.deployments, router.deployments)
        self._dispatcher.reload(router, settings.router_settings, keep)
        for apply in then:
            apply()
        self.generation += 1
        if settings is not self.settings:
            self.settings = settings
            if self.on_settings is not None:
                self.on_settings(settings)
            if self.on_routing is not None:
                self.on_routing(settings.routing.aliases)

    async def reload_file(self) -> bool:
        """Re-read the config file (SIGHUP); False, with one log line, if it was refused."""
        if self._path is None:
            log.warning("config reload ignored: the gateway runs on the embedded defaults")
            return False
        try:
            new = await asyncio.to_thread(load_settings, self._path)
            # The listener stays where it is (`serve --host/--port` may have moved it).
            bound = {"host": self.settings.server.host, "port": self.settings.server.port}
            new = new.model_copy(update={"server": new.server.model_copy(update=bound)})
            stored = self._valid(await self.repo.list())
            restart = changed_sections(self.settings, new)
            self._install(new, stored, restart=True)
        except (ConfigError, GatewayError) as exc:
            reason = " ".join(str(exc).split())
            log.error("config reload refused, the running config stays: %s", reason)
            return False
        note = f"; needs a restart to apply: {', '.join(restart)}" if restart else ""
        log.warning(
            "config reloaded from %s: %d deployments%s",
            self._path,
            len(self._dispatcher.router.deployments),
            note,
        )
        return True

    async def reload_if_changed(self) -> bool:
        """Re-read the config file if it is not the one the settings in force came from
        (edited while the process started, when a SIGHUP had nothing to reload)."""
        loaded = self.settings.source_digest
        if self._path is None or loaded is None:
            return False
        try:
            text = await asyncio.to_thread(Path(self._path).read_text, encoding="utf-8")
        except (OSError, ValueError):
            text = ""  # unreadable now: reload_file says why and keeps the running config
        if text and text_digest(text) == loaded:
            return False
        log.warning("config file %s changed while the gateway started: reloading it", self._path)
        return await self.reload_file()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.refresh()
            except Exception as exc:  # the database may be down: the next change retries
                log.warning("model config refresh failed: %r", exc)
