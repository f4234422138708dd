"""The ``lockgate`` command: parses flags and calls one function each."""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from lockgate import __version__
from lockgate.audit import cli as audit_cli
from lockgate.routing import cli as route_cli
from lockgate.settings import ConfigError, Settings, load_settings
from lockgate.storage import cli as db_cli
from lockgate.usage import cli as usage_cli

__all__ = ["app", "main"]

app = typer.Typer(help="lockgate: a production gateway for LLM applications.", no_args_is_help=True)
keys_app = typer.Typer(help="Manage virtual API keys (talks to the configured database).")
app.add_typer(keys_app, name="keys")
cache_app = typer.Typer(help="Cache tools.")
app.add_typer(cache_app, name="cache")
app.add_typer(audit_cli.app, name="audit")
app.add_typer(usage_cli.app, name="usage")
app.add_typer(db_cli.app, name="db")
app.add_typer(route_cli.app, name="route")

ConfigOpt = Annotated[
    str | None,
    typer.Option(
        "--config", "-c", help="YAML config file (default: $LOCKGATE_CONFIG or embedded defaults)."
    ),
]


def _settings(config: str | None, **server: Any) -> Settings:
    path = config or os.environ.get("LOCKGATE_CONFIG") or None
    try:
        settings = load_settings(path)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    overrides = {k: v for k, v in server.items() if v is not None}
    if overrides:
        settings = settings.model_copy(
            update={"server": settings.server.model_copy(update=overrides)}
        )
    return settings


@app.command()
def serve(
    config: ConfigOpt = None,
    host: Annotated[str | None, typer.Option(help="Address to bind.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
) -> None:
    """Start the gateway."""
    from lockgate.server import serve as run

    settings = _settings(config, host=host, port=port)
    try:
        run(settings, config or os.environ.get("LOCKGATE_CONFIG"), workers)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command("check-config")
def check_config(path: Annotated[str, typer.Argument(help="Config file to validate.")]) -> None:
    """Validate a config file without starting anything."""
    try:
        settings = load_settings(path)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    aliases = sorted({e.model_name for e in settings.model_list})
    typer.echo(
        f"ok: {len(settings.model_list)} deployments, models: {', '.join(aliases) or '(none)'}"
    )


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def _run_keys(config: str | None, action: Any, *, changes: bool = True) -> Any:
    from lockgate.auth.repository import KeyRepository
    from lockgate.storage.database import Database

    settings = _settings(config)

    async def go() -> Any:
        from lockgate.auth.changes import announce_key_change

        db = Database(settings.general_settings.database_url)
        try:
            await db.migrate()
            result = await action(KeyRepository(db))
        finally:
            await db.aclose()
        # Running gateways poll the database's change counter anyway; with Redis they hear now.
        if changes:
            await announce_key_change(settings.general_settings.redis_url)
        return result

    from lockgate.errors import GatewayError

    try:
        return asyncio.run(go())
    except GatewayError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from None


def _json_object(value: str | None, option: str) -> dict[str, Any] | None:
    if not value:
        return None
    try:
        data = json.loads(value)
    except json.JSONDecodeError as exc:
        typer.echo(f"error: {option} is not valid JSON: {exc}", err=True)
        raise typer.Exit(2) from None
    if not isinstance(data, dict):
        typer.echo(f"error: {option} must be a JSON object", err=True)
        raise typer.Exit(2)
    return data


@keys_app.command("create")
def keys_create(
    name: str,
    config: ConfigOpt = None,
    models: Annotated[str | None, typer.Option(help="Comma-separated allowed models.")] = None,
    team: Annotated[str | None, typer.Option(help="Team the key belongs to.")] = None,
    expires_in: Annotated[float | None, typer.Option(help="Seconds until the key expires.")] = None,
    metadata: Annotated[str | None, typer.Option(help="JSON object of metadata.")] = None,
    limits: Annotated[
        str | None,
        typer.Option(
            help='JSON limits, e.g. \'{"requests": "100/hour", "tokens": "50000/minute",'
            ' "concurrent": 5, "budget": {"day": 10}}\'.'
        ),
    ] = None,
) -> None:
    """Create a key and print its secret (shown once)."""
    from lockgate.limits.rules import rules_from_spec

    meta = _json_object(metadata, "--metadata")
    spec = _json_object(limits, "--limits")
    if spec:
        try:
            rules_from_spec("key", spec)
        except ValueError as exc:
            typer.echo(f"error: --limits: {exc}", err=True)
            raise typer.Exit(2) from None
    allowed = [m.strip() for m in models.split(",") if m.strip()] if models else None
    expires = time.time() + expires_in if expires_in else None
    secret, key = _run_keys(
        config,
        lambda repo: repo.create(
            name, models=allowed, team=team, metadata=meta, limits=spec, expires_at=expires
        ),
    )
    typer.echo(json.dumps({"key": secret, **key.public()}, indent=2))


@keys_app.command("list")
def keys_list(
    config: ConfigOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    all_keys: Annotated[bool, typer.Option("--all", help="Include revoked keys.")] = False,
) -> None:
    """List keys."""
    keys = _run_keys(config, lambda repo: repo.list(include_revoked=all_keys), changes=False)
    if as_json:
        typer.echo(json.dumps([k.public() for k in keys], indent=2))
        return
    table = Table("id", "name", "prefix", "models", "team", "state")
    now = time.time()
    for k in keys:
        state = "active" if k.active(now) else ("revoked" if k.revoked_at else "expired")
        table.add_row(
            k.id, k.name, k.key_prefix, ",".join(k.allowed_models or ["*"]), k.team or "", state
        )
    Console().print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: str, config: ConfigOpt = None) -> None:
    """Revoke a key at once."""
    key = _run_keys(config, lambda repo: repo.revoke(key_id))
    typer.echo(f"revoked {key.id} ({key.name})")


@keys_app.command("rotate")
def keys_rotate(key_id: str, config: ConfigOpt = None) -> None:
    """Give a key a new secret; the old one stops working."""
    secret, key = _run_keys(config, lambda repo: repo.rotate(key_id))
    typer.echo(json.dumps({"key": secret, **key.public()}, indent=2))


@cache_app.command("eval")
def cache_eval(
    pairs: Annotated[
        str, typer.Argument(help="JSONL of question pairs: q1, q2, label (1 = same).")
    ],
    config: ConfigOpt = None,
    alias: Annotated[str | None, typer.Option(help="Use this alias's semantic settings.")] = None,
    threshold: Annotated[
        float | None, typer.Option(help="Override the similarity threshold.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Precision, hit rate and false-hit rate of the semantic cache at the configured settings."""
    from dataclasses import replace
    from pathlib import Path

    from lockgate.cache.semantic.eval import evaluate_pairs

    sc = _settings(config).semantic_cache
    sem = sc.section_settings()
    if alias is not None:
        per_alias = sc.alias_settings()
        if alias not in per_alias:
            typer.echo(f"error: alias {alias!r} has no semantic_cache entry", err=True)
            raise typer.Exit(2)
        sem = per_alias[alias]
    if threshold is not None:
        sem = replace(sem, threshold=threshold)
    path = Path(pairs)
    if not path.is_file():
        typer.echo(f"error: no such file {pairs}", err=True)
        raise typer.Exit(2)
    report = evaluate_pairs(path, sem)
    typer.echo(json.dumps(report.to_dict(), indent=2) if as_json else report.render())


def main() -> None:
    app()
