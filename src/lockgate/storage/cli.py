"""``lockgate db``: schema migrations as a step of their own (a Kubernetes Job, a compose
one-shot service), and a wait for the schema that gateway replicas can run before they start.

Both exit non-zero on failure, so an orchestrator never mistakes a failed migration for a
finished one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Annotated

import typer

__all__ = ["app"]

app = typer.Typer(help="Database schema: migrate, or wait until it is migrated.")

_ConfigOpt = Annotated[
    str | None,
    typer.Option("--config", "-c", help="YAML config file (default: $LOCKGATE_CONFIG)."),
]
_UrlOpt = Annotated[
    str | None,
    typer.Option("--database-url", help="Database URL (default: the config's database_url)."),
]
_TimeoutOpt = Annotated[
    float, typer.Option("--timeout", help="Seconds to keep trying before giving up.")
]


def _database_url(config: str | None, url: str | None) -> str:
    if url:
        return url
    from lockgate.cli_target import admin_settings

    return admin_settings(config).general_settings.database_url


async def _until(deadline: float, attempt: Callable[[], Awaitable[str | None]]) -> str | None:
    """Run ``attempt`` (returns an error text, or None on success) until it succeeds or
    the deadline passes; return the last error."""
    delay = 0.25
    while True:
        last = await attempt()
        if last is None or time.monotonic() >= deadline:
            return last
        await asyncio.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 2, 5.0)


@app.command("migrate")
def migrate(config: _ConfigOpt = None, url: _UrlOpt = None, timeout: _TimeoutOpt = 120.0) -> None:
    """Wait for the database to accept connections, then bring its schema to the newest
    revision. Exit 1 if either does not happen within the timeout."""
    from lockgate.storage.database import Database, redact_url

    target = _database_url(config, url)
    db = Database(target)

    async def attempt() -> str | None:
        try:
            await db.migrate()
        except Exception as exc:  # the database is not up yet, or the migration failed
            return f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        return None

    async def run() -> str | None:
        try:
            return await _until(time.monotonic() + timeout, attempt)
        finally:
            await db.aclose()

    error = asyncio.run(run())
    if error is not None:
        typer.echo(f"error: migration of {redact_url(target)} failed: {error}", err=True)
        raise typer.Exit(1)
    typer.echo(f"migrated {redact_url(target)} to {Database.head_revision()}")


@app.command("wait")
def wait(config: _ConfigOpt = None, url: _UrlOpt = None, timeout: _TimeoutOpt = 300.0) -> None:
    """Wait until the database's schema is at the revision this version of lockgate
    expects (for init containers, while a migration job runs). Exit 1 on timeout."""
    from lockgate.storage.database import Database, redact_url

    target = _database_url(config, url)
    db = Database(target, create_dirs=False)
    head = Database.head_revision()

    async def attempt() -> str | None:
        try:
            current = await db.current_revision()
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        return None if current == head else f"schema at {current or 'nothing'}, want {head}"

    async def run() -> str | None:
        try:
            return await _until(time.monotonic() + timeout, attempt)
        finally:
            await db.aclose()

    error = asyncio.run(run())
    if error is not None:
        typer.echo(f"error: {redact_url(target)} not ready: {error}", err=True)
        raise typer.Exit(1)
    typer.echo(f"{redact_url(target)} is at {head}")
