"""Serve lockgate (bench/lockgate.yaml by default) under one of several server stacks.

    python bench/serve_stack.py STACK PORT [CONFIG]

STACK: ``guarded`` (what ``lockgate serve`` runs: uvicorn + httptools + the guarded
protocol), ``uvicorn`` (plain uvicorn + httptools, main before the hardening),
``hypercorn`` (h11, uvloop) or ``granian`` (Rust, ASGI interface); ``guarded2`` is
``lockgate serve --workers 2`` (``guarded2-before``: the same from the checkout whose
``src`` is ``$BEFORE_SRC``), ``serve1`` / ``serve1-before`` plain ``lockgate serve`` (one
worker, its writer process included) from this checkout / ``$BEFORE_SRC``, and
``granian2`` granian with 2 workers.  Used by
bench/run_servers.sh to compare their RPS and CPU per request on one machine.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def app_from_env() -> object:
    """granian's factory (it imports its target in each worker): $LOCKGATE_CONFIG's app."""
    from lockgate.app import create_app
    from lockgate.settings import load_settings

    return create_app(load_settings(os.environ["LOCKGATE_CONFIG"]))


def main() -> None:
    stack, port = sys.argv[1], int(sys.argv[2])
    config = sys.argv[3] if len(sys.argv) > 3 else str(REPO / "bench" / "lockgate.yaml")
    os.environ["LOCKGATE_CONFIG"] = config
    from lockgate.app import create_app
    from lockgate.server import uvicorn_options
    from lockgate.settings import load_settings

    settings = load_settings(config)
    if stack in ("guarded2", "guarded2-before", "serve1", "serve1-before"):
        argv = [sys.executable, "-m", "lockgate", "serve", "-c", config, "--port", str(port)]
        if stack.endswith("-before"):  # another checkout's src ($BEFORE_SRC), same run
            os.environ["PYTHONPATH"] = os.environ["BEFORE_SRC"]
        workers = ["--workers", "2"] if stack.startswith("guarded2") else []
        os.execv(sys.executable, [*argv, *workers])
    if stack in ("granian", "granian2"):
        from granian.constants import Interfaces, Loops
        from granian.server import Server

        sys.path.insert(0, str(Path(__file__).resolve().parent))
        Server(
            "serve_stack:app_from_env",
            address="127.0.0.1",
            port=port,
            interface=Interfaces.ASGI,
            workers=2 if stack == "granian2" else 1,
            loop=Loops.uvloop,
            factory=True,
            log_access=False,
        ).serve()
        return
    app = create_app(settings)
    if stack == "hypercorn":
        import uvloop
        from hypercorn.asyncio import serve
        from hypercorn.config import Config

        cfg = Config()
        cfg.bind = [f"127.0.0.1:{port}"]
        cfg.keep_alive_timeout = settings.server.http.keep_alive_timeout
        cfg.accesslog = None
        uvloop.install()
        asyncio.run(serve(app, cfg))  # type: ignore[arg-type]
        return
    import uvicorn

    options = {**uvicorn_options(settings), "host": "127.0.0.1", "port": port}
    options["log_level"] = "warning"
    if stack == "uvicorn":
        options["http"] = "httptools"
    uvicorn.run(app, **options)


if __name__ == "__main__":
    main()
