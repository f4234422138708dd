"""``lockgate serve`` without the CLI framework (idle memory and start-up of every worker).

``python -m lockgate`` and the ``lockgate`` script enter at :func:`main`.  A command line
that is exactly ``serve`` with its four options, each given a value (``-c/--config``,
``--host``, ``--port``, ``--workers``), starts the gateway from here; typer, click and
the other commands (~1.5 MiB resident, ~0.1 s) are never imported.  Anything else
(``--help``, another command, an unknown or incomplete option, a port that is not a
number) goes to the typer app of :mod:`lockgate.cli`, which parses, helps and
complains exactly as before; its ``serve`` command calls :func:`serve` too.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from lockgate.settings import Settings

__all__ = ["CommandExit", "load_or_exit", "main", "parse_serve", "serve"]

#: the options of ``serve`` -> its keyword, and whether the value is an integer
_OPTIONS = {
    "-c": ("config", False),
    "--config": ("config", False),
    "--host": ("host", False),
    "--port": ("port", True),
    "--workers": ("workers", True),
}


class CommandExit(Exception):
    """End the command with ``code`` (its message, if any, is already on stderr)."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def _err(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def load_or_exit(config: str | None, *, admin: bool = False, exit_code: int = 2) -> Settings:
    """The settings every command uses; warnings (ignored LiteLLM keys) go to stderr, and
    a config error as ``error: ...`` with :class:`CommandExit` (``exit_code``)."""
    from lockgate.settings import ConfigError, find_config, load_settings

    path = find_config(config)
    try:
        settings = load_settings(path, required_env="storage" if admin else "all")
    except ConfigError as exc:
        _err(f"error: {exc}")
        raise CommandExit(exit_code) from None
    for warning in settings.warnings:
        _err(f"warning: {warning}")
    return settings


def parse_serve(args: list[str]) -> dict[str, str | int | None] | None:
    """``serve``'s options from ``args`` (the command line after the program), or None
    when it is not a plain ``serve`` line (the typer app then handles it)."""
    if not args or args[0] != "serve":
        return None
    found: dict[str, str | int | None] = {"config": None, "host": None, "port": None}
    found["workers"] = 1
    rest = args[1:]
    while rest:
        flag, _, value = rest[0].partition("=")
        if flag not in _OPTIONS or (flag == "-c" and "=" in rest[0]):
            return None
        if "=" in rest[0]:
            rest = rest[1:]
        elif len(rest) >= 2:
            value, rest = rest[1], rest[2:]
        else:
            return None
        if value.startswith("-"):  # a flag where a value belongs, or a negative number
            return None
        name, integer = _OPTIONS[flag]
        if integer:
            try:
                found[name] = int(value)
            except ValueError:
                return None
        else:
            found[name] = value
    return found


def serve(config: str | None, host: str | None, port: int | None, workers: int) -> None:
    """Start the gateway; :class:`CommandExit` with its exit code when it cannot."""
    import gc
    import os

    from lockgate.serving.workers import hold_reload_signals, tie_to_parent

    hold_reload_signals()
    tie_to_parent(os.environ)  # a `--workers` worker ends with its parent

    # Start-up allocates ~185k long-lived objects and frees few, so the cyclic GC's
    # collections while it runs find little (~15% of its CPU); the lifespan's
    # gc.collect() sweeps once, and the server enables the GC as soon as it has started.
    gc.disable()
    try:
        _serve(config, host, port, workers)
    finally:
        gc.enable()


def _serve(config: str | None, host: str | None, port: int | None, workers: int) -> None:
    from lockgate.logs import import_structlog_lean

    import_structlog_lean()  # before anything imports structlog (idle memory)
    # SQLAlchemy loads on first use (storage/lean_import.py), its ORM never (make_engine)
    if workers <= 1:  # a `--workers` supervisor imports no uvicorn at all
        from lockgate.serving.lean import import_deferring_init, import_hiding

        # uvicorn's server without its command line (click) and supervisors
        # (multiprocessing)
        import_deferring_init("uvicorn", {"Config": "uvicorn.config", "Server": "uvicorn.server"})
        import_hiding("uvicorn", "watchfiles")  # its --reload supervisor's; serve never reloads
    from lockgate.preflight import problems
    from lockgate.settings import ConfigError, find_config

    settings = load_or_exit(config)
    from lockgate.storage.premigrate import start_premigration

    # A first start's migration: a child loads Alembic while this process checks and
    # loads the server, and migrates once the port is bound (storage/premigrate.py).
    premigration = start_premigration(settings.general_settings.database_url)
    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    if overrides:
        settings = settings.model_copy(
            update={"server": settings.server.model_copy(update=overrides)}
        )
    found = problems(settings)
    for problem in found:
        _err(problem.render())
    if found:
        if premigration is not None:
            premigration.cancel()
        raise CommandExit(2)
    from lockgate.serving.listen import StartupError

    if workers > 1:  # the supervisor binds and supervises: no application in this process
        from lockgate.serving.workers import serve_workers as run_workers

        run: Callable[..., None] = run_workers
    else:
        from lockgate.server import serve as run_one

        run = run_one
    path = find_config(config)
    try:
        run(
            settings,
            str(path) if path is not None else None,
            workers,
            before_start=premigration.run if premigration is not None else None,
        )
    except StartupError as exc:
        if exc.message:  # empty: the lifespan's failure is already on stderr
            _err(exc.render())
        raise CommandExit(exc.exit_code) from None
    except ConfigError as exc:
        _err(f"error: {exc}")
        raise CommandExit(2) from None
    finally:
        if premigration is not None:
            premigration.cancel()


def main() -> None:
    """The ``lockgate`` command: a plain ``serve`` line here, anything else through typer."""
    options = parse_serve(sys.argv[1:])
    if options is None:
        from lockgate.cli import main as cli_main

        cli_main()
        return
    try:
        serve(**options)  # type: ignore[arg-type]
    except CommandExit as exc:
        sys.exit(exc.code)
    except KeyboardInterrupt:  # as click reports it
        _err("Aborted!")
        sys.exit(1)
