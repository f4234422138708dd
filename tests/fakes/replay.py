"""ReplayUpstream: a loopback server that answers with a recorded provider response.

Golden-file tests set ``answer`` (a JSON body) or ``events`` (SSE ``(event, data)``
pairs, ``event`` None for OpenAI's nameless ``data:`` lines; Bedrock's stream route sends
them as AWS event-stream frames) before each request and
read back ``requests``: the exact bodies the gateway sent upstream.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from tests.fakes.bedrock_wire import frame

__all__ = ["ReplayUpstream"]


class ReplayUpstream:
    def __init__(self) -> None:
        self.answer: Any = None
        self.events: list[tuple[str | None, Any]] | None = None
        self.requests: list[dict[str, Any]] = []
        self._runner: web.AppRunner | None = None
        self._port = 0

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._serve)
        app.router.add_post("/v1/messages", self._serve)
        app.router.add_post("/bedrock/model/{model}/converse", self._serve)
        app.router.add_post("/bedrock/model/{model}/converse-stream", self._serve)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        self.requests.append({"path": request.path, "body": await request.json()})
        if self.events is None:
            return web.json_response(self.answer)
        if request.path.endswith("/converse-stream"):  # Bedrock: AWS event-stream frames
            frames = web.StreamResponse(
                headers={"content-type": "application/vnd.amazon.eventstream"}
            )
            await frames.prepare(request)
            for event, data in self.events:
                await frames.write(frame(event or "", data))
            await frames.write_eof()
            return frames
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        for event, data in self.events:
            head = f"event: {event}\n" if event else ""
            payload = data if isinstance(data, str) else json.dumps(data)
            await response.write(f"{head}data: {payload}\n\n".encode())
        await response.write_eof()
        return response
