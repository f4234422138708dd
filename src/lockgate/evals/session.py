"""Where the evaluation tools reach the gateway: a URL, or the configured app in-process."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from lockgate.evals.answer import ChatClient
from lockgate.evals.client import in_process_client, url_client
from lockgate.evals.estimate import PriceLookup
from lockgate.pricing import Price, price_for
from lockgate.settings import Settings

__all__ = ["Connection", "RichProgress", "connect", "settings_prices"]


def settings_prices(settings: Settings) -> PriceLookup:
    """An alias's price: its first deployment's (configured or built in)."""
    first: dict[str, Price | None] = {}
    for dep in settings.deployments():
        if dep.alias not in first:
            first[dep.alias] = price_for(dep)
    return lambda alias: first.get(alias)


@dataclass(frozen=True, slots=True)
class Connection:
    client: ChatClient
    prices: PriceLookup | None
    #: identifies the gateway in cache keys
    namespace: str


@contextlib.asynccontextmanager
async def connect(
    settings: Settings,
    config_path: str | None,
    url: str | None,
    api_key: str | None,
    timeout_s: float = 120.0,
) -> AsyncIterator[Connection]:
    """The gateway at ``url``, or the one ``settings`` describe, run in this process."""
    prices = settings_prices(settings)
    if url is not None:
        async with url_client(url, api_key, timeout_s) as client:
            yield Connection(client, prices if config_path else None, url)
        return
    text = config_path.encode() if config_path else b"embedded"
    if config_path:
        text += await asyncio.to_thread(Path(config_path).read_bytes)
    namespace = "config:" + hashlib.sha256(text).hexdigest()[:16]
    if api_key is None and settings.general_settings.master_key is not None:
        # In this process the config is the caller's own: act with its master key.
        api_key = settings.general_settings.master_key.get_secret_value()
    async with in_process_client(settings, api_key) as client:
        yield Connection(client, prices, namespace)


class RichProgress:
    """The runner's progress sink drawn as a rich progress bar (one task per phase)."""

    def __init__(self, enabled: bool = True) -> None:
        self._progress = Progress(
            TextColumn("{task.description:>12}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            disable=not enabled,
            transient=False,
        )
        self._task: object = None

    def __enter__(self) -> RichProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def start(self, phase: str, total: int) -> None:
        self._task = self._progress.add_task(phase, total=total)

    def advance(self) -> None:
        if self._task is not None:
            self._progress.advance(self._task)  # type: ignore[arg-type]
