"""Where an admin command acts: the configured database, or a running gateway's admin API.

Every admin command (``keys``, ``usage``, ``audit``) finds its config the way ``serve``
does (``--config``, ``$LOCKGATE_CONFIG``, ``./lockgate.yaml``, embedded defaults), needs
only the storage settings from it (an unset provider key does not matter), and says on
stderr which database it used.  With ``--url`` it talks to a running gateway instead,
authenticating with ``--key`` or ``$LOCKGATE_MASTER_KEY``.  Imports stay light: the
database layer is loaded by the commands that use it.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Annotated, Any

import typer

from lockgate.settings import Settings

if TYPE_CHECKING:
    import urllib.request

__all__ = [
    "AdminClient",
    "ConfigOpt",
    "KeyOpt",
    "UrlOpt",
    "admin_client",
    "admin_settings",
    "fail",
    "load",
    "say_database",
]

ConfigOpt = Annotated[
    str | None,
    typer.Option(
        "--config",
        "-c",
        help="YAML config file (default: $LOCKGATE_CONFIG, then ./lockgate.yaml, then the"
        " embedded defaults).",
    ),
]
UrlOpt = Annotated[
    str | None,
    typer.Option(
        "--url",
        help="Act through a running gateway's admin API (e.g. http://gateway:4000) instead"
        " of the database.",
    ),
]
KeyOpt = Annotated[
    str | None,
    typer.Option("--key", help="Master key for --url (default: $LOCKGATE_MASTER_KEY)."),
]


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``error: message`` on stderr; raise the returned Exit."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def load(config: str | None, *, admin: bool = False, exit_code: int = 2) -> Settings:
    """The settings every command uses; warnings (ignored LiteLLM keys) go to stderr."""
    from lockgate.serve_cli import CommandExit, load_or_exit

    try:
        return load_or_exit(config, admin=admin, exit_code=exit_code)
    except CommandExit as exc:
        raise typer.Exit(exc.code) from None


def admin_settings(config: str | None) -> Settings:
    """Settings for an admin command, having said which config and database it uses."""
    settings = load(config, admin=True)
    say_database(settings)
    return settings


def say_database(settings: Settings) -> None:
    from lockgate.preflight import redact_url

    typer.echo(f"database: {redact_url(settings.general_settings.database_url)}", err=True)


class AdminClient:
    """A few JSON calls to a gateway's admin API (stdlib only: no client library needed)."""

    def __init__(self, url: str, key: str | None, timeout: float = 30.0) -> None:
        self.base = url.rstrip("/")
        self._key = key
        self._timeout = timeout

    def lines(self, path: str, query: Mapping[str, str | None] | None = None) -> Iterator[bytes]:
        """GET ``path`` and yield the answer's lines (for JSON-lines streams)."""
        with self._open(self._request("GET", path, None, query)) as resp:
            try:
                yield from resp
            except OSError as exc:  # the gateway went away mid-stream
                raise fail(f"{self.base}: the answer broke off: {exc}", 1) from None

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: Mapping[str, str | None] | None = None,
    ) -> Any:
        with self._open(self._request(method, path, body, query)) as resp:
            return json.loads(resp.read() or b"null")

    def _request(
        self, method: str, path: str, body: Any, query: Mapping[str, str | None] | None
    ) -> urllib.request.Request:
        import urllib.parse
        import urllib.request

        url = self.base + path
        params = {k: v for k, v in (query or {}).items() if v is not None}
        if params:
            url += "?" + urllib.parse.urlencode(params)
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("content-type", "application/json")
        if self._key:
            req.add_header("authorization", f"Bearer {self._key}")
        return req

    @contextlib.contextmanager
    def _open(self, req: urllib.request.Request) -> Iterator[Any]:
        import urllib.error
        import urllib.request

        try:
            resp = urllib.request.urlopen(req, timeout=self._timeout)
        except urllib.error.HTTPError as exc:
            with exc:  # it holds the response's socket: close it, not the garbage collector
                message = _error_message(exc)
            raise fail(f"{self.base}: HTTP {exc.code}: {message}", 1) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise fail(f"cannot reach the gateway at {self.base}: {reason}", 1) from None
        with resp:
            yield resp


def _error_message(exc: Any) -> str:
    try:
        body = json.loads(exc.read())
        return str(body["error"]["message"])
    except Exception:
        return str(exc.reason)


def admin_client(url: str, key: str | None) -> AdminClient:
    """The client for ``--url``; says which gateway it talks to."""
    key = key or os.environ.get("LOCKGATE_MASTER_KEY")
    typer.echo(f"gateway: {url.rstrip('/')}", err=True)
    return AdminClient(url, key)
