"""The ``lockgate`` command: parses flags and calls one function each."""

from __future__ import annotations

import asyncio
import importlib
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from lockgate import __version__
from lockgate.cli_target import (
    ConfigOpt,
    KeyOpt,
    UrlOpt,
    admin_client,
    admin_settings,
    fail,
    load,
)

if TYPE_CHECKING:  # the semantic cache loads numpy and a model: only for its commands
    from lockgate.cache.semantic.eval import EvalReport
    from lockgate.cache.semantic.semantic_cache import SemanticSettings
    from lockgate.cache.semantic.verifier import Verifier
    from lockgate.settings import Settings

__all__ = ["app", "main"]

#: command groups imported when a command line names them (or for --help), so that
#: ``lockgate serve`` loads none of them (start-up time and idle memory): name ->
#: (module, attribute holding its Typer app), in the order --help lists them
LAZY_GROUPS = {
    "audit": ("lockgate.audit.cli", "app"),
    "usage": ("lockgate.usage.cli", "app"),
    "eval": ("lockgate.evals.cli", "app"),
    "prompts": ("lockgate.prompts.cli", "app"),
    "experiments": ("lockgate.experiments.cli", "experiments_app"),
    "rollouts": ("lockgate.experiments.cli", "rollouts_app"),
    "db": ("lockgate.storage.cli", "app"),
    "route": ("lockgate.routing.cli", "app"),
    "models": ("lockgate.modelconfig.cli", "app"),
}


class _LazyGroups(TyperGroup):
    """The top-level group: LAZY_GROUPS are built on first lookup, exactly as
    ``app.add_typer(sub, name=...)`` would have built them."""

    def list_commands(self, ctx: Any) -> list[str]:
        eager = [name for name in self.commands if name not in LAZY_GROUPS]
        return [*eager, *LAZY_GROUPS]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name in LAZY_GROUPS and cmd_name not in self.commands:
            module, attr = LAZY_GROUPS[cmd_name]
            holder = typer.Typer()
            holder.add_typer(getattr(importlib.import_module(module), attr), name=cmd_name)
            built = typer.main.get_command(holder)
            assert isinstance(built, TyperGroup)
            self.commands[cmd_name] = built.commands[cmd_name]
        return super().get_command(ctx, cmd_name)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        if args and args[0] not in self.commands and args[0] not in LAZY_GROUPS:
            for name in LAZY_GROUPS:  # an unknown name: "did you mean" looks at them all
                self.get_command(ctx, name)
        return super().resolve_command(ctx, args)


app = typer.Typer(
    help="lockgate: a production gateway for LLM applications.",
    no_args_is_help=True,
    cls=_LazyGroups,
)
keys_app = typer.Typer(
    help="Manage virtual API keys (in the configured database, or through --url)."
)
app.add_typer(keys_app, name="keys")
cache_app = typer.Typer(help="Cache tools.")
app.add_typer(cache_app, name="cache")


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"lockgate {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    """lockgate: a production gateway for LLM applications."""


@app.command()
def serve(
    config: ConfigOpt = None,
    host: Annotated[str | None, typer.Option(help="Address to bind.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
) -> None:
    """Start the gateway."""
    from lockgate.serve_cli import CommandExit
    from lockgate.serve_cli import serve as run

    # `python -m lockgate serve ...` and the `lockgate` script start a plain serve line in
    # lockgate.serve_cli without typer; this is the same start for every other line
    try:
        run(config, host, port, workers)
    except CommandExit as exc:
        raise typer.Exit(exc.code) from None


@app.command("check-config")
def check_config(
    path: Annotated[
        str | None,
        typer.Argument(help="Config file (default: found the way serve finds it)."),
    ] = None,
    connect: Annotated[
        bool, typer.Option("--connect", help="Also connect to the database and Redis.")
    ] = False,
) -> None:
    """Run serve's start-up checks without starting anything (no network unless --connect)."""
    import asyncio

    from lockgate.preflight import connect_problems, problems
    from lockgate.settings import find_config

    found_path = find_config(path)
    settings = load(path, exit_code=1)
    found = problems(settings)
    if connect and not found:
        found = asyncio.run(connect_problems(settings))
    for problem in found:
        typer.echo(problem.render(), err=True)
    if found:
        raise typer.Exit(1)
    aliases = sorted({e.model_name for e in settings.model_list})
    source = str(found_path) if found_path is not None else "embedded defaults"
    typer.echo(
        f"ok: {len(settings.model_list)} deployments, models: {', '.join(aliases) or '(none)'}"
        f" ({source})"
    )


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def _run_keys(config: str | None, action: Any, *, changes: bool = True) -> Any:
    import asyncio

    from lockgate.auth.changes import announce_key_change
    from lockgate.auth.repository import KeyRepository
    from lockgate.errors import GatewayError
    from lockgate.storage.database import Database

    settings = admin_settings(config)

    async def go() -> Any:
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

    try:
        return asyncio.run(go())
    except GatewayError as exc:
        raise fail(exc.message, 1) from None


def _json_object(value: str | None, option: str) -> dict[str, Any] | None:
    if not value:
        return None
    try:
        data = json.loads(value)
    except json.JSONDecodeError as exc:
        raise fail(f"{option} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise fail(f"{option} must be a JSON object")
    return data


@keys_app.command("create")
def keys_create(
    name: str,
    config: ConfigOpt = None,
    url: UrlOpt = None,
    key: KeyOpt = None,
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
            raise fail(f"--limits: {exc}") from None
    allowed = [m.strip() for m in models.split(",") if m.strip()] if models else None
    expires = time.time() + expires_in if expires_in else None
    if url:
        body: dict[str, Any] = {"name": name, "models": allowed, "team": team}
        body.update({"metadata": meta, "limits": spec, "expires_at": expires})
        created = admin_client(url, key).call("POST", "/admin/keys", body)
    else:
        secret, made = _run_keys(
            config,
            lambda repo: repo.create(
                name, models=allowed, team=team, metadata=meta, limits=spec, expires_at=expires
            ),
        )
        created = {"key": secret, **made.public()}
    typer.echo(json.dumps(created, indent=2))


@keys_app.command("list")
def keys_list(
    config: ConfigOpt = None,
    url: UrlOpt = None,
    key: KeyOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    all_keys: Annotated[bool, typer.Option("--all", help="Include revoked keys.")] = False,
) -> None:
    """List keys."""
    keys: list[dict[str, Any]]
    if url:
        query = {"include_revoked": "true" if all_keys else None}
        keys = admin_client(url, key).call("GET", "/admin/keys", query=query)["data"]
    else:
        found = _run_keys(config, lambda repo: repo.list(include_revoked=all_keys), changes=False)
        keys = [k.public() for k in found]
    if as_json:
        typer.echo(json.dumps(keys, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("id", "name", "prefix", "models", "team", "state")
    now = time.time()
    for k in keys:
        if k["revoked_at"]:
            state = "revoked"
        elif k["expires_at"] is not None and k["expires_at"] <= now:
            state = "expired"
        else:
            state = "active"
        models = ",".join(k["models"] or ["*"])
        table.add_row(k["id"], k["name"], k["key_prefix"], models, k["team"] or "", state)
    Console().print(table)
    if not keys:
        typer.echo("no keys" + ("" if all_keys else " (--all includes revoked keys)"), err=True)


@keys_app.command("revoke")
def keys_revoke(
    key_id: str, config: ConfigOpt = None, url: UrlOpt = None, key: KeyOpt = None
) -> None:
    """Revoke a key at once."""
    if url:
        done = admin_client(url, key).call("DELETE", f"/admin/keys/{key_id}")
    else:
        done = _run_keys(config, lambda repo: repo.revoke(key_id)).public()
    typer.echo(f"revoked {done['id']} ({done['name']})")


@keys_app.command("rotate")
def keys_rotate(
    key_id: str, config: ConfigOpt = None, url: UrlOpt = None, key: KeyOpt = None
) -> None:
    """Give a key a new secret; the old one stops working."""
    if url:
        rotated = admin_client(url, key).call("POST", f"/admin/keys/{key_id}/rotate")
    else:
        secret, made = _run_keys(config, lambda repo: repo.rotate(key_id))
        rotated = {"key": secret, **made.public()}
    typer.echo(json.dumps(rotated, indent=2))


@cache_app.command("eval")
def cache_eval(
    pairs: Annotated[
        str, typer.Argument(help="JSONL of question pairs: q1, q2, label (1 = same).")
    ],
    config: ConfigOpt = None,
    alias: Annotated[str | None, typer.Option(help="Use this alias's semantic settings.")] = None,
    threshold: Annotated[
        float | None, typer.Option(help="Override the similarity threshold (no verifier).")
    ] = None,
    max_false_hit_rate: Annotated[
        float | None, typer.Option(help="Override the error budget of the learned verifier.")
    ] = None,
    verifier: Annotated[
        bool | None, typer.Option("--verifier/--no-verifier", help="Use the learned verifier.")
    ] = None,
    progress: Annotated[bool, typer.Option(help="Progress bar on stderr.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Precision, hit rate and false-hit rate (95% CIs, per source) at the configured settings."""
    from dataclasses import replace
    from pathlib import Path

    from lockgate.cache.semantic.eval import evaluate_pairs, load_pairs

    settings = load(config, admin=True)
    sc = settings.semantic_cache
    sem = sc.section_settings()
    if alias is not None:
        per_alias = sc.alias_settings()
        if alias not in per_alias:
            raise fail(f"alias {alias!r} has no semantic_cache entry")
        sem = per_alias[alias]
    if threshold is not None:
        sem = replace(sem, threshold=threshold)
    if max_false_hit_rate is not None:
        sem = replace(sem, max_false_hit_rate=max_false_hit_rate)
    if verifier is not None:
        sem = replace(sem, verifier=verifier)
    path = Path(pairs)
    if not path.is_file():
        raise fail(f"no such file {pairs}")
    try:
        if not load_pairs(path):
            raise fail(f"{pairs} holds no pairs")
    except ValueError as exc:  # names the file and line
        raise fail(str(exc)) from None
    try:
        weights = None
        if sem.verifier and sc.verifier_weights is not None:
            from lockgate.cache.semantic.verifier import load_verifier

            weights = load_verifier(Path(sc.verifier_weights).read_text(encoding="utf-8"))
        if sc.embedder == "gateway":  # the configured embeddings alias, through the gateway
            report = asyncio.run(_eval_through_gateway(settings, path, sem, weights, progress))
        else:
            from lockgate.cache.semantic.embedder import LocalEmbedder

            # the vectors the gateway would use
            embedder = LocalEmbedder(model=sc.model, backend=sc.backend)
            report = evaluate_pairs(
                path, sem, embedder=embedder, verifier=weights, progress=progress
            )
    except ModuleNotFoundError as exc:
        raise fail(str(exc)) from exc
    typer.echo(json.dumps(report.to_dict(), indent=2) if as_json else report.render())


async def _eval_through_gateway(
    settings: Settings,
    path: Path,
    sem: SemanticSettings,
    weights: Verifier | None,
    progress: bool,
) -> EvalReport:
    """``cache eval`` with ``embedder: gateway``: the gateway's services are built from
    the config (as ``serve`` would) and the pairs embedded by its embeddings alias."""
    from lockgate.cache.semantic.eval import evaluate_pairs_async
    from lockgate.services import build_services

    services = await build_services(settings)
    try:
        if services.semantic is None:
            raise fail("semantic_cache: no alias uses the semantic cache, nothing to evaluate")
        return await evaluate_pairs_async(
            path, sem, embedder=services.semantic.cache.embedder, verifier=weights,
            progress=progress,
        )  # fmt: skip
    finally:
        await services.aclose()


def main() -> None:
    app()
