"""``lockgate audit verify|export|prune|replay``: the audit log from the command line.

Registered by the main CLI with ``app.add_typer(audit_cli.app, name="audit")``.
Each command loads the config (``--config`` or ``$LOCKGATE_CONFIG``), opens the
configured database and calls one :class:`~lockgate.audit.repository.AuditRepository`
method.  Exit codes: 0 fine, 1 the log failed verification (or export could not
decrypt), 2 bad configuration or usage.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, BinaryIO, TypeVar

import typer

from lockgate.cli_target import ConfigOpt, KeyOpt, UrlOpt, admin_client, admin_settings
from lockgate.settings import ConfigError, Settings

if TYPE_CHECKING:
    from lockgate.audit.repository import AuditRepository
    from lockgate.cli_target import AdminClient

__all__ = ["app"]

app = typer.Typer(help="Verify, export and prune the tamper-evident audit log.")

T = TypeVar("T")


def _settings(config: str | None) -> Settings:
    return admin_settings(config)


def _run(settings: Settings, action: Callable[[AuditRepository], Awaitable[T]]) -> T:
    import asyncio

    from lockgate.audit.repository import AuditRepository
    from lockgate.storage.database import Database

    async def go() -> T:
        db = Database(settings.general_settings.database_url)
        try:
            await db.migrate()
            return await action(AuditRepository(db))
        finally:
            await db.aclose()

    return asyncio.run(go())


def _parse_head(text: str) -> tuple[int, str]:
    from lockgate.audit.routes import parse_head

    try:
        return parse_head(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


@app.command()
def verify(
    config: ConfigOpt = None,
    expect_head: Annotated[
        str | None,
        typer.Option(
            help="SEQ:HASH of the newest record as noted elsewhere (catches a cut-off tail)."
        ),
    ] = None,
    url: UrlOpt = None,
    key: KeyOpt = None,
) -> None:
    """Check every hash link; exit 1 naming the first bad seq."""
    from dataclasses import asdict

    head = _parse_head(expect_head) if expect_head else None
    if url:
        query = {"expect_head": f"{head[0]}:{head[1]}" if head else None}
        result = admin_client(url, key).call("GET", "/admin/audit/verify", query=query)
    else:
        found = _run(_settings(config), lambda repo: repo.verify(expected_head=head))
        result = asdict(found)
    start, last = result["start"], result["head"]
    origin = "genesis" if start["seq"] < 0 else f"checkpoint seq {start['seq']}"
    if not result["ok"]:
        typer.echo(
            f"FAILED at seq {result['first_bad_seq']}: {result['reason']}"
            f" ({result['checked']} records verified from {origin} before it)",
            err=True,
        )
        raise typer.Exit(1)
    if last is None:
        typer.echo(f"ok: no records after {origin}")
    else:
        typer.echo(
            f"ok: {result['checked']} records verified from {origin};"
            f" head {last['seq']}:{last['hash']}"
        )


@app.command()
def export(
    config: ConfigOpt = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")
    ] = None,
    no_bodies: Annotated[
        bool, typer.Option("--no-bodies", help="Leave the (encrypted) bodies out.")
    ] = False,
    since: Annotated[
        float | None, typer.Option(help="Only records written at or after this Unix time.")
    ] = None,
    url: UrlOpt = None,
    key: KeyOpt = None,
) -> None:
    """Write the log as JSON lines, bodies decrypted with the key from the environment.

    With ``--url`` the running gateway reads and decrypts the log (with its own key).
    """
    if url:
        _export_remote(admin_client(url, key), output, bodies=not no_bodies, since=since)
        return
    from lockgate.audit.crypto import DecryptionError
    from lockgate.audit.sinks import body_cipher

    settings = _settings(config)
    try:
        cipher = None if no_bodies else body_cipher(settings)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None

    async def dump(repo: AuditRepository, out: BinaryIO) -> int:
        return await repo.export(out.write, cipher=cipher, bodies=not no_bodies, since=since)

    try:
        if output is None:
            count = _run(settings, lambda repo: dump(repo, typer.get_binary_stream("stdout")))
        else:
            with output.open("wb") as fh:
                count = _run(settings, lambda repo: dump(repo, fh))
    except (DecryptionError, ValueError) as exc:
        message = exc.message if isinstance(exc, DecryptionError) else str(exc)
        typer.echo(
            f"error: {message}; set {settings.audit.key_env} to the audit key or pass --no-bodies",
            err=True,
        )
        raise typer.Exit(1) from None
    typer.echo(f"exported {count} records", err=True)


def _export_remote(
    client: AdminClient, output: Path | None, *, bodies: bool, since: float | None
) -> None:
    import json

    query = {
        "bodies": "true" if bodies else "false",
        "since": None if since is None else str(since),
    }
    count = 0
    with contextlib.ExitStack() as stack:
        out = (
            typer.get_binary_stream("stdout")
            if output is None
            else stack.enter_context(output.open("wb"))
        )
        for line in client.lines("/admin/audit/export", query=query):
            if line.startswith(b'{"error"'):
                message = json.loads(line)["error"]["message"]
                typer.echo(
                    f"error: the gateway stopped the export after {count} records: {message}",
                    err=True,
                )
                raise typer.Exit(1)
            out.write(line)
            count += 1
    typer.echo(f"exported {count} records", err=True)


@app.command()
def prune(
    config: ConfigOpt = None,
    older_than_days: Annotated[
        float | None,
        typer.Option(help="Delete records older than this (default: audit.retention_days)."),
    ] = None,
    url: UrlOpt = None,
    key: KeyOpt = None,
) -> None:
    """Delete old records, keeping a checkpoint so the rest still verifies."""
    if older_than_days is not None and older_than_days <= 0:
        typer.echo("error: --older-than-days must be positive", err=True)
        raise typer.Exit(2)
    if url:
        body = {} if older_than_days is None else {"older_than_days": older_than_days}
        answer = admin_client(url, key).call("POST", "/admin/audit/prune", body=body)
        deleted, days, point = answer["deleted"], answer["older_than_days"], answer["checkpoint"]
    else:
        settings = _settings(config)
        days = older_than_days if older_than_days is not None else settings.audit.retention_days
        if days is None or days <= 0:
            typer.echo("error: give --older-than-days or set audit.retention_days", err=True)
            raise typer.Exit(2)
        now = time.time()
        result = _run(settings, lambda repo: repo.prune(older_than=now - days * 86400.0, now=now))
        deleted = result.deleted
        point = (
            None
            if result.checkpoint is None
            else {"seq": result.checkpoint.seq, "hash": result.checkpoint.hash}
        )
    if deleted == 0:
        typer.echo(f"nothing older than {days:g} days")
        return
    assert point is not None
    typer.echo(
        f"deleted {deleted} records; verification now starts after"
        f" seq {point['seq']}:{point['hash']}"
    )


@app.command()
def replay(
    config: ConfigOpt = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file", help="Dead-letter file to replay (default: audit.dead_letter_file)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Append the dead-letter file's entries to the chain, each at most once, then verify.

    Entries whose request id is already in the log are skipped; the others are chained on
    the current head like any append.  Entries still refused go back to the dead-letter
    file; the replayed file is kept as FILE.replayed-STAMP.  Exit 1 if the log then fails
    verification.
    """
    from lockgate.audit.replay import AuditReplay
    from lockgate.audit.sinks import check_audit_key
    from lockgate.storage.database import Database
    from lockgate.storage.replay_cli import run_replay

    settings = _settings(config)
    try:
        cipher = check_audit_key(settings)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None

    async def verified(db: Database) -> tuple[bool, str]:
        from lockgate.audit.repository import AuditRepository

        found = await AuditRepository(db).verify()
        if not found.ok:
            return False, f"verification FAILED at seq {found.first_bad_seq}: {found.reason}"
        head = "no records" if found.head is None else f"head {found.head.seq}:{found.head.hash}"
        return True, f"verified: {found.checked} records; {head}"

    run_replay(
        settings,
        "audit",
        settings.audit.dead_letter_file,
        file,
        lambda db: AuditReplay(db, cipher),
        as_json=as_json,
        check=verified,
    )
