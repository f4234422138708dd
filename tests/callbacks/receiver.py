"""A real HTTP receiver on 127.0.0.1 that keeps what callbacks POST to it."""

from __future__ import annotations

import asyncio
import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Answers each POST with the next queued status (200 when none is queued)."""

    received: list[Received] = field(default_factory=list)
    statuses: deque[int] = field(default_factory=deque)
    #: while set, requests wait (a receiver that hangs)
    hold: asyncio.Event | None = None
    url: str = ""
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        if self.hold is not None:
            await self.hold.wait()
        body = await request.read()
        status = self.statuses.popleft() if self.statuses else 200
        self.received.append(Received(request.path, dict(request.headers), body))
        self.arrived.set()
        return web.json_response({"ok": status < 300}, status=status)

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_route("POST", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def wait_for(self, n: int) -> list[Received]:
        """Wait until ``n`` POSTs arrived (at most 10 s), then return them all."""
        async with asyncio.timeout(10.0):
            while len(self.received) < n:
                self.arrived.clear()
                await self.arrived.wait()
        return self.received
