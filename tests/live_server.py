"""Serve a lockgate app with a real uvicorn server on 127.0.0.1, in a thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn

from lockgate.app import create_app
from lockgate.server import PROTOCOL
from lockgate.settings import Settings


@dataclass
class LiveGateway:
    url: str
    settings: Settings

    @property
    def v1(self) -> str:
        return self.url + "/v1"


@contextmanager
def serve_in_thread(settings: Settings) -> Iterator[LiveGateway]:
    """Run the gateway until the block exits; bounded start-up and shutdown waits."""
    config = uvicorn.Config(
        create_app(settings),
        host="127.0.0.1",
        port=0,
        loop="asyncio",
        http=PROTOCOL,
        timeout_keep_alive=settings.server.http.keep_alive_timeout,  # type: ignore[arg-type]
        access_log=False,
        log_level="warning",
        lifespan="on",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("gateway did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield LiveGateway(url=f"http://127.0.0.1:{port}", settings=settings)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
