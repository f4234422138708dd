"""``lockgate usage``: spend and token reports, and feedback summaries, from the database.

lockgate usage report --by key,day --since 2026-11-01
lockgate usage report --by model --json
lockgate usage feedback
lockgate usage replay            # the dead-letter file's rows, each written at most once
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from lockgate.cli_target import ConfigOpt, KeyOpt, UrlOpt, admin_client, admin_settings, fail

if TYPE_CHECKING:
    from lockgate.usage.repository import UsageRepository

__all__ = ["app"]

T = TypeVar("T")

app = typer.Typer(
    help="Usage, spend and feedback reports (from the configured database, or through --url)."
)


def _with_repo(config: str | None, action: Callable[[UsageRepository], Awaitable[T]]) -> T:
    import asyncio

    from lockgate.storage.database import Database
    from lockgate.usage.repository import UsageRepository

    settings = admin_settings(config)

    async def go() -> T:
        db = Database(settings.general_settings.database_url)
        try:
            await db.migrate()
            return await action(UsageRepository(db))
        finally:
            await db.aclose()

    return asyncio.run(go())


def _day(value: str | None, option: str) -> str | None:
    from lockgate.usage.reports import parse_day

    if value is None:
        return None
    try:
        return parse_day(value, dt.datetime.now(dt.UTC).date())
    except ValueError as exc:
        raise fail(f"{option}: {exc}") from None


@app.command("report")
def report(
    config: ConfigOpt = None,
    url: UrlOpt = None,
    key: KeyOpt = None,
    by: Annotated[
        str,
        typer.Option("--by", help="Comma-separated: key, user, team, model, provider, day, route."),
    ] = "model",
    since: Annotated[
        str | None,
        typer.Option(help="First day included (UTC): YYYY-MM-DD, today, yesterday or Nd (7d)."),
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="First day excluded (UTC), same forms as --since.")
    ] = None,
    key_id: Annotated[str | None, typer.Option("--key-id", help="Only this key id.")] = None,
    team: Annotated[str | None, typer.Option(help="Only this team.")] = None,
    user: Annotated[str | None, typer.Option(help="Only this end user.")] = None,
    model: Annotated[str | None, typer.Option(help="Only this model alias.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Requests, tokens and spend, grouped."""
    from lockgate.usage.reports import ReportQuery, ReportRow, parse_dimensions, render_table

    try:
        dims = parse_dimensions(by)
    except ValueError as exc:
        raise fail(str(exc)) from None
    first, last = _day(since, "--since"), _day(until, "--until")
    if first is not None and last is not None and first >= last:
        raise fail(f"--since {first} is not before --until {last}: the range is empty")
    if url:
        query_params: dict[str, str | None] = {"group_by": ",".join(dims)}
        query_params.update({"since": first, "until": last})
        query_params.update({"key_id": key_id, "team": team, "user": user, "model": model})
        out = admin_client(url, key).call("GET", "/admin/usage", query=query_params)
        out = {k: out[k] for k in ("group_by", "rows", "totals")}
        rows = [_row_from_json(r) for r in out["rows"]]
    else:
        from lockgate.usage.reports import totals

        query = ReportQuery(dims, first, last, key_id, team, user, model)
        found: list[ReportRow] = _with_repo(config, lambda repo: repo.report(query))
        rows = found
        out = {
            "group_by": list(dims),
            "rows": [r.to_json() for r in rows],
            "totals": totals(rows).to_json(),
        }
    if not rows:
        span = f" from {first}" if first else ""
        span += f" until {last}" if last else ""
        typer.echo(f"no usage recorded{span} for these filters", err=True)
    if as_json:
        typer.echo(json.dumps(out, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    lines = render_table(rows, dims)
    table = Table(*lines[0])
    for line in lines[1:-1]:
        table.add_row(*line)
    table.add_section()
    table.add_row(*lines[-1])
    Console().print(table)


def _row_from_json(data: dict[str, Any]) -> Any:
    from lockgate.usage.reports import ReportRow

    return ReportRow(
        data["group"],
        data["requests"],
        data["errors"],
        data["cache_hits"],
        data["prompt_tokens"],
        data["completion_tokens"],
        data["cached_tokens"],
        data["cost_usd"],
        data["avg_latency_ms"],
    )


@app.command("feedback")
def feedback(
    config: ConfigOpt = None,
    url: UrlOpt = None,
    key: KeyOpt = None,
    model: Annotated[str | None, typer.Option(help="Only this model alias.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Feedback per model and prompt version."""
    data: list[dict[str, Any]]
    if url:
        data = admin_client(url, key).call("GET", "/admin/feedback", query={"model": model})["data"]
    else:
        summaries = _with_repo(config, lambda repo: repo.feedback_summary(model))
        data = [s.to_json() for s in summaries]
    if not data:
        typer.echo("no feedback recorded" + (f" for {model}" if model else ""), err=True)
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

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


@app.command("replay")
def replay(
    config: ConfigOpt = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file", help="Dead-letter file to replay (default: usage.dead_letter_file)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Write the rows of the dead-letter file to the database, each at most once.

    Rows whose request id is already stored are skipped; rows the database still refuses
    go back to the dead-letter file; the replayed file is kept as FILE.replayed-STAMP.
    """
    from lockgate.storage.replay_cli import run_replay
    from lockgate.usage.replay import UsageReplay

    settings = admin_settings(config)
    run_replay(
        settings,
        "usage",
        settings.usage.dead_letter_file,
        file,
        UsageReplay,
        as_json=as_json,
    )
