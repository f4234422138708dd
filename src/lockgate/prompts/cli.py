"""``lockgate prompts``: push, list, show, diff, label and roll back prompt versions.

lockgate prompts push support.yaml
lockgate prompts list
lockgate prompts show support --label production
lockgate prompts diff support 3 production
lockgate prompts label support 4 production
lockgate prompts rollback support --label production
"""

from __future__ import annotations

import asyncio
import difflib
import getpass
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
import yaml
from rich.console import Console
from rich.table import Table

from lockgate.cli_target import admin_settings
from lockgate.errors import GatewayError
from lockgate.experiments.actions import move_label
from lockgate.settings import Settings

if TYPE_CHECKING:  # the database layer loads when a command runs, not for --help
    from lockgate.experiments.events import EventLog
    from lockgate.experiments.repository import ExperimentRepository
    from lockgate.prompts.repository import PromptRepository
    from lockgate.prompts.template import PromptVersion

__all__ = ["Stores", "app", "run_with_stores"]

T = TypeVar("T")

app = typer.Typer(help="Versioned prompts and their labels (talks to the configured database).")

ConfigOpt = Annotated[
    str | None,
    typer.Option(
        "--config", "-c", help="YAML config file (default: $LOCKGATE_CONFIG or embedded defaults)."
    ),
]


@dataclass(slots=True)
class Stores:
    prompts: PromptRepository
    experiments: ExperimentRepository
    events: EventLog
    actor: str


def run_with_stores(config: str | None, action: Callable[[Stores], Awaitable[T]]) -> T:
    """Run ``action`` against the configured database; audit events go to its audit log."""
    from lockgate.audit.sinks import build_audit_sinks
    from lockgate.experiments.events import EventLog
    from lockgate.experiments.repository import ExperimentRepository
    from lockgate.prompts.repository import PromptRepository
    from lockgate.storage.database import Database

    settings: Settings = admin_settings(config)

    async def go() -> T:
        db = Database(settings.general_settings.database_url)
        sinks = build_audit_sinks(settings, db)
        try:
            await db.migrate()
            stores = Stores(
                PromptRepository(db),
                ExperimentRepository(db),
                EventLog(sinks),
                f"cli:{getpass.getuser()}",
            )
            return await action(stores)
        finally:
            for sink in sinks:
                await sink.aclose()
            await db.aclose()

    try:
        return asyncio.run(go())
    except GatewayError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from None


def _read(path: str) -> Any:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
        return json.loads(text) if p.suffix == ".json" else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        typer.echo(f"error: {path}: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command("push")
def push(
    file: Annotated[str, typer.Argument(help="Prompt file (YAML or JSON).")],
    config: ConfigOpt = None,
) -> None:
    """Store a prompt file as a new version (no new version if nothing changed)."""
    from lockgate.prompts.spec import parse_spec

    try:
        spec = parse_spec(_read(file))
    except GatewayError as exc:
        typer.echo(f"error: {file}: {exc.message}", err=True)
        raise typer.Exit(2) from None

    async def act(s: Stores) -> tuple[PromptVersion, bool]:
        before = await s.prompts.labels(spec.name)
        version, created = await s.prompts.push(spec, s.actor)
        for label in spec.labels:
            if before.get((spec.name, label)) != version.version:
                s.events.emit(
                    "prompt.label",
                    spec.name,
                    {"label": label, "from_version": before.get((spec.name, label))},
                    s.actor,
                )
        return version, created

    version, created = run_with_stores(config, act)
    state = "created" if created else "unchanged, latest is"
    labels = f" labels: {', '.join(spec.labels)}" if spec.labels else ""
    typer.echo(f"{state} {version.ref}{labels}")


@app.command("list")
def list_prompts(
    config: ConfigOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Every prompt, its latest version and its labels."""
    rows = run_with_stores(config, lambda s: s.prompts.names())
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table("name", "latest", "versions", "labels")
    for r in rows:
        labels = ", ".join(f"{lb}→v{v}" for lb, v in sorted(r["labels"].items()))
        table.add_row(r["name"], str(r["latest"]), str(r["versions"]), labels)
    Console().print(table)


async def _pick(s: Stores, name: str, which: str) -> PromptVersion:
    """A version by number or by label."""
    if which.isdigit():
        number = int(which)
    else:
        labels = await s.prompts.labels(name)
        if (name, which) not in labels:
            raise GatewayError(f"Prompt {name!r} has no label {which!r}.")
        number = labels[(name, which)]
    version = await s.prompts.get(name, number)
    if version is None:
        raise GatewayError(f"Prompt {name!r} has no version {number}.")
    return version


def _as_yaml(version: PromptVersion) -> str:
    return yaml.safe_dump(version.content, sort_keys=False, allow_unicode=True)


@app.command("show")
def show(
    name: str,
    which: Annotated[str, typer.Argument(help="Version number or label.")] = "production",
    config: ConfigOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """One version's content, and the label history."""

    async def act(s: Stores) -> tuple[PromptVersion, list[dict[str, Any]]]:
        return await _pick(s, name, which), await s.prompts.history(name)

    version, history = run_with_stores(config, act)
    if as_json:
        typer.echo(json.dumps({**version.to_json(), "history": history}, indent=2))
        return
    typer.echo(f"# {version.ref} by {version.author or '-'}: {version.message or ''}")
    typer.echo(_as_yaml(version))
    for h in history:
        typer.echo(
            f"  {h['label']}: v{h['from_version'] or '-'} -> v{h['to_version']}"
            f" by {h['actor'] or '-'} at {h['at']:.0f} ({h['reason'] or ''})"
        )


@app.command("diff")
def diff(
    name: str,
    a: Annotated[str, typer.Argument(help="Version number or label.")],
    b: Annotated[str, typer.Argument(help="Version number or label.")],
    config: ConfigOpt = None,
) -> None:
    """A unified diff between two versions (by number or label)."""

    async def act(s: Stores) -> tuple[PromptVersion, PromptVersion]:
        return await _pick(s, name, a), await _pick(s, name, b)

    va, vb = run_with_stores(config, act)
    lines = difflib.unified_diff(
        _as_yaml(va).splitlines(keepends=True),
        _as_yaml(vb).splitlines(keepends=True),
        fromfile=va.ref,
        tofile=vb.ref,
    )
    typer.echo("".join(lines) or f"{va.ref} and {vb.ref} have the same content")


@app.command("label")
def label(name: str, version: int, label_name: str, config: ConfigOpt = None) -> None:
    """Point LABEL_NAME at VERSION (recorded in the label history)."""
    old, new = run_with_stores(
        config,
        lambda s: move_label(s.prompts, s.events, name, label_name, version, s.actor, "cli"),
    )
    typer.echo(f"{name}@{label_name}: v{old or '-'} -> v{new}")


@app.command("rollback")
def rollback(
    name: str,
    label_name: Annotated[str, typer.Option("--label", help="The label to move back.")] = (
        "production"
    ),
    config: ConfigOpt = None,
) -> None:
    """Move a label back to the version it pointed at before its last move."""

    async def act(s: Stores) -> tuple[int | None, int]:
        moves = await s.prompts.history(name, label_name)
        if not moves or moves[-1]["from_version"] is None:
            raise GatewayError(f"Label {name}@{label_name} has no earlier version.")
        back = int(moves[-1]["from_version"])
        return await move_label(s.prompts, s.events, name, label_name, back, s.actor, "rollback")

    old, new = run_with_stores(config, act)
    typer.echo(f"{name}@{label_name}: v{old} -> v{new}")
