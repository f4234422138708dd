"""``lockgate usage``: spend and token reports, and feedback summaries, from the database.

lockgate usage report --by key,day --since 2026-11-01
lockgate usage report --by model --json
lockgate usage feedback
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from lockgate.settings import ConfigError, load_settings
from lockgate.storage.database import Database
from lockgate.usage.reports import ReportQuery, parse_dimensions, render_table, totals
from lockgate.usage.repository import UsageRepository

__all__ = ["app"]

T = TypeVar("T")

app = typer.Typer(help="Usage, spend and feedback reports (reads the configured database).")

ConfigOpt = Annotated[
    str | None,
    typer.Option(
        "--config", "-c", help="YAML config file (default: $LOCKGATE_CONFIG or embedded defaults)."
    ),
]


def _with_repo(config: str | None, action: Callable[[UsageRepository], Awaitable[T]]) -> T:
    try:
        settings = load_settings(config or os.environ.get("LOCKGATE_CONFIG") or None)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None

    async def go() -> T:
        db = Database(settings.general_settings.database_url)
        try:
            await db.migrate()
            return await action(UsageRepository(db))
        finally:
            await db.aclose()

    return asyncio.run(go())


@app.command("report")
def report(
    config: ConfigOpt = None,
    by: Annotated[
        str, typer.Option("--by", help="Comma-separated: key, user, team, model, provider, day.")
    ] = "model",
    since: Annotated[str | None, typer.Option(help="First day included (YYYY-MM-DD, UTC).")] = None,
    until: Annotated[str | None, typer.Option(help="First day excluded (YYYY-MM-DD, UTC).")] = None,
    key_id: Annotated[str | None, typer.Option("--key", help="Only this key id.")] = None,
    team: Annotated[str | None, typer.Option(help="Only this team.")] = None,
    user: Annotated[str | None, typer.Option(help="Only this end user.")] = None,
    model: Annotated[str | None, typer.Option(help="Only this model alias.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Requests, tokens and spend, grouped."""
    try:
        dims = parse_dimensions(by)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    query = ReportQuery(dims, since, until, key_id, team, user, model)
    rows = _with_repo(config, lambda repo: repo.report(query))
    if as_json:
        out = {
            "group_by": list(dims),
            "rows": [r.to_json() for r in rows],
            "totals": totals(rows).to_json(),
        }
        typer.echo(json.dumps(out, indent=2))
        return
    lines = render_table(rows, dims)
    table = Table(*lines[0])
    for line in lines[1:-1]:
        table.add_row(*line)
    table.add_section()
    table.add_row(*lines[-1])
    Console().print(table)


@app.command("feedback")
def feedback(
    config: ConfigOpt = None,
    model: Annotated[str | None, typer.Option(help="Only this model alias.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Feedback per model and prompt version."""
    summaries = _with_repo(config, lambda repo: repo.feedback_summary(model))
    data = [s.to_json() for s in summaries]
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    table = Table("model", "prompt version", "n", "avg score", "up", "down", "completed", "failed")
    for d in data:
        avg = d["avg_score"]
        table.add_row(
            str(d["model"] or "-"),
            str(d["prompt_version"] or "-"),
            str(d["count"]),
            "-" if avg is None else f"{avg:.3f}",
            str(d["thumbs_up"]),
            str(d["thumbs_down"]),
            str(d["task_completed"]),
            str(d["task_failed"]),
        )
    Console().print(table)
