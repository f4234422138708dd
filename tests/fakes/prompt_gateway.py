"""A fake gateway with a prompt registry: the render endpoint and an echoing chat route.

``POST /v1/prompts/{name}/render`` takes ``{"label"|"version", "variables"}`` (the shape of
lockgate's prompt registry) and returns ``{"prompt", "model", "messages", ...params}``;
``{{ var }}`` placeholders are filled.  Unknown prompts or labels get a 404 in OpenAI's
error shape.  ``POST /v1/chat/completions`` answers ``"<model>: <last user text>"``.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

__all__ = ["FakePromptGateway"]

_VAR = re.compile(r"\{\{\s*(\w+)\s*\}\}")


class FakePromptGateway:
    def __init__(
        self, prompts: dict[str, dict[str, dict[str, Any]]], host: str = "127.0.0.1"
    ) -> None:
        #: name -> label or "v<N>" -> {"model", "messages", params...}
        self.prompts = prompts
        self.host = host
        self.renders: list[dict[str, Any]] = []
        self._port = 0
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/prompts/{name}/render", self._render)
        app.router.add_post("/v1/chat/completions", self._chat)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, 0).start()
        self._port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self._port}"

    @property
    def openai_base_url(self) -> str:
        return self.base_url + "/v1"

    async def _render(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        body = await request.json()
        self.renders.append({"name": name, **body})
        tag = body.get("label") or f"v{body.get('version')}"
        spec = self.prompts.get(name, {}).get(tag)
        if spec is None:
            err = {"message": f"No prompt {name}@{tag}.", "type": "not_found_error", "code": None}
            return web.json_response({"error": err}, status=404)
        variables = body.get("variables") or {}

        def fill(text: str) -> str:
            return _VAR.sub(lambda m: str(variables.get(m.group(1), "")), text)

        messages = [{**m, "content": fill(m["content"])} for m in spec["messages"]]
        extra = {k: v for k, v in spec.items() if k != "messages"}
        return web.json_response({"prompt": f"{name}@{tag}", "messages": messages, **extra})

    async def _chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        last = next(m["content"] for m in reversed(body["messages"]) if m["role"] == "user")
        text = f"{body['model']}: {last}"
        return web.json_response(
            {
                "id": "chatcmpl-p",
                "object": "chat.completion",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10},
            },
            headers={"x-lockgate-cost-usd": "0.00001000"},
        )
