"""Anthropic's Messages API, reached with canonical (OpenAI-shaped) requests."""

from __future__ import annotations

from typing import Any

import orjson

from lockgate.chat import ChatRequest, ChatResponse, ChatStream
from lockgate.chat_fields import json_too_deep
from lockgate.errors import UpstreamBadResponseError, UpstreamClientError
from lockgate.providers.base import StreamHandle, Timeouts
from lockgate.providers.transport import Transport
from lockgate.settings import Deployment
from lockgate.wire.anthropic_request import openai_to_anthropic_request
from lockgate.wire.anthropic_response import anthropic_to_openai_response
from lockgate.wire.anthropic_stream import AnthropicToChunks

__all__ = ["ANTHROPIC_VERSION", "AnthropicProvider"]

DEFAULT_BASE = "https://api.anthropic.com"
ANTHROPIC_VERSION = "2023-06-01"


class AnthropicProvider:
    name = "anthropic"

    def __init__(self, max_connections: int = 512) -> None:
        self._transport = Transport("anthropic", max_connections)

    async def aclose(self) -> None:
        await self._transport.aclose()

    def _url(self, deployment: Deployment) -> str:
        base = (deployment.params.api_base or DEFAULT_BASE).rstrip("/")
        return base + ("/messages" if base.endswith("/v1") else "/v1/messages")

    def _headers(self, deployment: Deployment) -> dict[str, str]:
        headers = {
            "content-type": "application/json",
            "anthropic-version": ANTHROPIC_VERSION,
            **deployment.params.extra_headers,
        }
        key = deployment.params.api_key
        if key is not None:
            headers["x-api-key"] = key.get_secret_value()
        return headers

    async def chat(
        self, request: ChatRequest, deployment: Deployment, timeouts: Timeouts
    ) -> ChatResponse:
        body = openai_to_anthropic_request(
            {**request.body, "stream": False}, deployment.params.upstream_model
        )
        raw = await self._transport.post_json(
            self._url(deployment),
            orjson.dumps(body),
            self._headers(deployment),
            timeouts,
            deployment.params.max_response_bytes,
        )
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise UpstreamBadResponseError(
                f"anthropic upstream sent invalid JSON: {raw[:200].decode('utf-8', 'replace')}"
            ) from None
        if not isinstance(data, dict) or data.get("type") != "message":
            raise UpstreamBadResponseError("anthropic upstream sent a body that is not a message")
        if json_too_deep(data):
            raise UpstreamBadResponseError("anthropic upstream sent JSON nested too deep")
        return anthropic_to_openai_response(data, request.model)

    async def stream(
        self, request: ChatRequest, deployment: Deployment, timeouts: Timeouts
    ) -> StreamHandle:
        body = openai_to_anthropic_request(
            {**request.body, "stream": True}, deployment.params.upstream_model
        )
        resp = await self._transport.open_stream(
            self._url(deployment), orjson.dumps(body), self._headers(deployment), timeouts
        )
        limit = deployment.params.max_response_bytes
        return StreamHandle(self._chunks(resp, request.model, timeouts, limit))

    async def _chunks(self, resp: Any, model: str, timeouts: Timeouts, limit: int) -> ChatStream:
        translator = AnthropicToChunks(model)
        async for event, data in self._transport.events(resp, timeouts, limit):
            try:
                payload = orjson.loads(data)
            except orjson.JSONDecodeError:
                raise UpstreamBadResponseError(
                    f"anthropic upstream sent a malformed stream event: {data[:200]!r}"
                ) from None
            if json_too_deep(payload):
                raise UpstreamBadResponseError("anthropic upstream sent an event nested too deep")
            for chunk in translator.feed(event, payload):
                yield chunk
        if not translator.done:
            raise UpstreamBadResponseError("anthropic upstream stream ended without message_stop")

    async def embed(
        self, body: dict[str, Any], deployment: Deployment, timeouts: Timeouts
    ) -> dict[str, Any]:
        raise UpstreamClientError("Anthropic offers no embeddings endpoint", status=400)
