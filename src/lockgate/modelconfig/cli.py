"""``lockgate models list|add|remove``: deployments stored beside the config file's, in the
configured database or through a running gateway's admin API (``--url``).  Every running
replica serves a change within ``live_models.sync_seconds`` (at once with Redis)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from lockgate.cli_target import ConfigOpt, KeyOpt, UrlOpt, admin_client, admin_settings, fail

if TYPE_CHECKING:
    from lockgate.modelconfig.repository import ModelRepository

__all__ = ["app"]

app = typer.Typer(
    help="Models served without a restart (in the configured database, or through --url).",
    no_args_is_help=True,
)


def _run(
    config: str | None, action: Callable[[ModelRepository], Awaitable[Any]], change: bool
) -> Any:
    import asyncio

    from lockgate.auth.changes import announce_key_change
    from lockgate.errors import GatewayError
    from lockgate.modelconfig.live import CHANNEL
    from lockgate.modelconfig.repository import ModelRepository
    from lockgate.storage.database import Database

    settings = admin_settings(config)

    async def go() -> Any:
        db = Database(settings.general_settings.database_url)
        try:
            await db.migrate()
            result = await action(ModelRepository(db))
        finally:
            await db.aclose()
        if change:  # gateways poll the change counter anyway; with Redis they hear now
            await announce_key_change(settings.general_settings.redis_url, CHANNEL)
        return result

    try:
        return asyncio.run(go())
    except GatewayError as exc:
        raise fail(exc.message, 1) from None


@app.command("list")
def list_models(
    config: ConfigOpt = None,
    url: UrlOpt = None,
    key: KeyOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the deployments served (with --url) or stored in the database."""
    if url:
        rows = admin_client(url, key).call("GET", "/admin/models")["data"]
    else:
        stored = _run(config, lambda repo: repo.list(), change=False)
        rows = [
            {
                "id": s.id,
                "model_name": s.raw.get("model_name"),
                "source": "api",
                "model": (s.raw.get("params") or s.raw.get("litellm_params") or {}).get("model"),
            }
            for s in stored
        ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        typer.echo(f"{row['id']}\t{row['model_name']}\t{row['model']}\t{row['source']}")
    if not rows:
        typer.echo("no models", err=True)


@app.command("add")
def add(
    model_name: Annotated[str, typer.Argument(help="The alias clients ask for.")],
    model: Annotated[str, typer.Argument(help="provider/model, e.g. openai/gpt-4o-mini.")],
    api_base: Annotated[str | None, typer.Option(help="The provider's URL.")] = None,
    api_key: Annotated[
        str | None,
        typer.Option(help="Upstream key; prefer os.environ/NAME (resolved by each gateway)."),
    ] = None,
    params: Annotated[
        str | None, typer.Option(help="More params as a JSON object, e.g. '{\"weight\": 2}'.")
    ] = None,
    config: ConfigOpt = None,
    url: UrlOpt = None,
    key: KeyOpt = None,
) -> None:
    """Serve a new deployment on every replica, without a restart."""
    extra: dict[str, Any] = {}
    if params:
        try:
            extra = json.loads(params)
        except json.JSONDecodeError as exc:
            raise fail(f"--params is not valid JSON: {exc}") from None
        if not isinstance(extra, dict):
            raise fail("--params must be a JSON object")
    given = {"api_base": api_base, "api_key": api_key}
    body = {
        "model_name": model_name,
        "params": {"model": model, **{k: v for k, v in given.items() if v}, **extra},
    }
    if url:
        rid = admin_client(url, key).call("POST", "/admin/models", body)["id"]
    else:
        from lockgate.modelconfig.core import parse_entry
        from lockgate.settings import ConfigError

        try:
            entry = parse_entry(body)
        except ConfigError as exc:
            raise fail(" ".join(str(exc).split())) from None
        rid = _run(config, lambda repo: repo.add(entry.model_name, body), change=True)
    typer.echo(rid)


@app.command("remove")
def remove(
    model_id: Annotated[str, typer.Argument(help="The id `models list` shows.")],
    config: ConfigOpt = None,
    url: UrlOpt = None,
    key: KeyOpt = None,
) -> None:
    """Stop serving a stored deployment (config file entries: edit the file, send SIGHUP)."""
    if url:
        from urllib.parse import quote

        admin_client(url, key).call("DELETE", f"/admin/models/{quote(model_id, safe='')}")
    else:
        _run(config, lambda repo: repo.remove(model_id), change=True)
    typer.echo(f"removed {model_id}")
