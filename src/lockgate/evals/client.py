"""The gateway over HTTP: a URL, or the app in this process through httpx's ASGI transport.

Both paths send exactly what a client would (``POST /v1/chat/completions``), so a suite
exercises the aliases, fallbacks, guards and prices the gateway really has.  The cost
of each answer is the gateway's own figure (the ``x-lockgate-cost-usd`` header).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx

from lockgate.evals.answer import (
    RENDER_META,
    Answer,
    EvalCallError,
    RenderedPrompt,
    answer_from_body,
)

__all__ = ["GatewayClient", "in_process_client", "url_client"]

_COST_HEADER = "x-lockgate-cost-usd"


class GatewayClient:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    async def _post(
        self, path: str, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> httpx.Response:
        try:
            response = await self._http.post(path, json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise EvalCallError(f"{path}: {type(exc).__name__}: {exc}") from None
        if response.status_code >= 400:
            try:
                message = response.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = response.text[:200]
            raise EvalCallError(f"{path}: HTTP {response.status_code}: {message}")
        return response

    async def chat(
        self,
        model: str,
        messages: list[dict[str, Any]],
        params: dict[str, Any],
        *,
        fresh: bool = False,
    ) -> Answer:
        body = {**params, "model": model, "messages": messages, "stream": False}
        started = time.perf_counter()
        headers = {"x-lockgate-cache": "no-cache, no-store"} if fresh else None
        response = await self._post("/v1/chat/completions", body, headers)
        latency = (time.perf_counter() - started) * 1000.0
        try:
            cost = float(response.headers.get(_COST_HEADER) or 0.0)
            data = response.json()
        except ValueError as exc:
            raise EvalCallError(f"unreadable answer: {exc}") from None
        return answer_from_body(data, cost_usd=cost, latency_ms=latency)

    async def render_prompt(
        self, name: str, label: str | None, version: int | None, variables: dict[str, Any]
    ) -> RenderedPrompt:
        body: dict[str, Any] = {"variables": variables}
        if version is not None:
            body["version"] = version
        else:
            body["label"] = label
        response = await self._post(f"/v1/prompts/{name}/render", body)
        try:
            data = response.json()
            messages = data["messages"]
        except (ValueError, KeyError, TypeError):
            raise EvalCallError(f"prompt {name}: the render endpoint sent no 'messages'") from None
        if not isinstance(messages, list):
            raise EvalCallError(f"prompt {name}: 'messages' is not a list")
        model = data.get("model")
        ref = data.get("prompt")
        return RenderedPrompt(
            messages=messages,
            model=model if isinstance(model, str) and model else None,
            params={k: v for k, v in data.items() if k not in RENDER_META and v is not None},
            ref=ref if isinstance(ref, str) else None,
        )


@contextlib.asynccontextmanager
async def url_client(
    url: str, api_key: str | None = None, timeout_s: float = 120.0, connections: int = 64
) -> AsyncIterator[GatewayClient]:
    """A client of a running gateway at ``url`` (``http://host:port``)."""
    headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(
        base_url=url.rstrip("/"), headers=headers, timeout=timeout_s, limits=limits
    ) as http:
        yield GatewayClient(http)


@contextlib.asynccontextmanager
async def in_process_client(
    settings: Any, api_key: str | None = None
) -> AsyncIterator[GatewayClient]:
    """The gateway built from ``settings`` inside this process (lifespan run, then closed)."""
    from asgi_lifespan import LifespanManager

    from lockgate.app import create_app

    app = create_app(settings)
    headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
    async with LifespanManager(startup_timeout=120, shutdown_timeout=120, app=app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://lockgate.local", headers=headers, timeout=600.0
        ) as http:
            yield GatewayClient(http)
