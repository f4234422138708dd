"""What ``lockgate usage replay`` and ``lockgate audit replay`` share: find the files,
replay each against the configured database, print what happened.

Exit codes: 0 every entry written or already there; 1 entries still bad (kept in the
dead-letter file), the database was away (the taken file is kept, run again to resume)
or, for audit, the chain failed verification afterwards; 2 a file that is not a
dead-letter file of this sink (nothing written, nothing moved) or bad configuration.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path

import typer

from lockgate.cli_target import fail
from lockgate.settings import Settings
from lockgate.storage.database import Database
from lockgate.storage.dead_letter import is_transient
from lockgate.storage.replay import (
    NotADeadLetterFile,
    ReplayReport,
    ReplaySink,
    pending_files,
    replay_file,
)

__all__ = ["run_replay"]

#: after the files: a check of the database (audit: the chain verifies) -> (ok, message)
Check = Callable[[Database], Awaitable[tuple[bool, str]]]


def _say(report: ReplayReport) -> None:
    typer.echo(
        f"{report.file}: {report.written} written, {report.duplicates} already in the"
        f" database (skipped), {len(report.still_bad)} still bad; moved to {report.moved_to}"
    )
    for rid, why in report.still_bad[:10]:
        typer.echo(f"  still bad: {rid or '?'}: {why}", err=True)
    if len(report.still_bad) > 10:
        typer.echo(f"  ... and {len(report.still_bad) - 10} more", err=True)


def run_replay(
    settings: Settings,
    sink_name: str,
    configured: str,
    file: Path | None,
    make_sink: Callable[[Database], ReplaySink],
    *,
    as_json: bool,
    check: Check | None = None,
) -> None:
    """Replay ``file`` (default: the ``configured`` dead-letter file) and any replay of it
    that stopped half-way; exits as the module's docstring says."""
    target = file if file is not None else Path(configured)
    paths = pending_files(target)
    if not paths:
        typer.echo(f"nothing to replay: {target} does not exist", err=True)
        return
    reports: list[ReplayReport] = []
    problem: tuple[str, int] | None = None
    verdict: tuple[bool, str] | None = None

    async def go() -> None:
        nonlocal problem, verdict
        db = Database(settings.general_settings.database_url)
        try:
            await db.migrate()
            sink = make_sink(db)
            for path in paths:
                try:
                    reports.append(await replay_file(path, sink_name, sink))
                except NotADeadLetterFile as exc:
                    problem = (f"{exc}; nothing replayed from it, the file is untouched", 2)
                    return
                except Exception as exc:
                    if not is_transient(exc):
                        raise
                    problem = (
                        f"the database did not answer ({type(exc).__name__}: {exc});"
                        " the file is kept as it was taken: run the command again to resume"
                        " (entries already written are skipped)",
                        1,
                    )
                    return
            if check is not None:
                verdict = await check(db)
        finally:
            await db.aclose()

    asyncio.run(go())
    if as_json:
        out = {
            "sink": sink_name,
            "files": [r.to_json() for r in reports],
            "verified": None if verdict is None else {"ok": verdict[0], "detail": verdict[1]},
            "error": None if problem is None else problem[0],
        }
        typer.echo(json.dumps(out, indent=2))
    else:
        for report in reports:
            _say(report)
        if verdict is not None:
            typer.echo(verdict[1], err=not verdict[0])
    if problem is not None:
        raise fail(problem[0], problem[1])
    if any(r.still_bad for r in reports):
        typer.echo(f"entries still bad were put back in {target}", err=True)
        raise typer.Exit(1)
    if verdict is not None and not verdict[0]:
        raise typer.Exit(1)
