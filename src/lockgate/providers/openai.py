"""OpenAI and OpenAI-compatible upstreams (vLLM, Ollama, LM Studio, ...)."""

from __future__ import annotations

from typing import Any

import orjson

from lockgate.chat import ChatRequest, ChatResponse, ChatStream, usage_from_openai
from lockgate.chat_fields import json_too_deep
from lockgate.errors import UpstreamBadResponseError
from lockgate.providers.base import StreamHandle, Timeouts
from lockgate.providers.transport import Transport
from lockgate.settings import Deployment

__all__ = ["OpenAIProvider", "gateway_only_fields"]

DEFAULT_BASE = "https://api.openai.com/v1"

#: Body fields that are lockgate's own and never go upstream.
gateway_only_fields = frozenset({"cache", "lockgate", "prompt_variables", "top_k"})


class OpenAIProvider:
    name = "openai"

    def __init__(self, max_connections: int = 512) -> None:
        self._transport = Transport("openai", max_connections)

    async def aclose(self) -> None:
        await self._transport.aclose()

    def _url(self, deployment: Deployment, path: str) -> str:
        return (deployment.params.api_base or DEFAULT_BASE).rstrip("/") + path

    def _headers(self, deployment: Deployment) -> dict[str, str]:
        headers = {"content-type": "application/json", **deployment.params.extra_headers}
        key = deployment.params.api_key
        if key is not None:
            headers["authorization"] = "Bearer " + key.get_secret_value()
        return headers

    def _body(self, request: ChatRequest, deployment: Deployment, stream: bool) -> bytes:
        body = {k: v for k, v in request.body.items() if k not in gateway_only_fields}
        body["model"] = deployment.params.upstream_model
        if stream:
            body["stream"] = True
            # Always ask for usage: the gateway accounts for it even when the client did not.
            body["stream_options"] = {**(body.get("stream_options") or {}), "include_usage": True}
        else:
            body.pop("stream", None)
            body.pop("stream_options", None)
        return orjson.dumps(body)

    async def chat(
        self, request: ChatRequest, deployment: Deployment, timeouts: Timeouts
    ) -> ChatResponse:
        raw = await self._transport.post_json(
            self._url(deployment, "/chat/completions"),
            self._body(request, deployment, stream=False),
            self._headers(deployment),
            timeouts,
            deployment.params.max_response_bytes,
        )
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise UpstreamBadResponseError(
                f"openai upstream sent invalid JSON: {raw[:200].decode('utf-8', 'replace')}"
            ) from None
        if not isinstance(data, dict) or not isinstance(data.get("choices"), list):
            raise UpstreamBadResponseError("openai upstream sent a body without 'choices'")
        if json_too_deep(data):
            raise UpstreamBadResponseError("openai upstream sent JSON nested too deep")
        return ChatResponse(body=data, usage=usage_from_openai(data.get("usage")))

    async def stream(
        self, request: ChatRequest, deployment: Deployment, timeouts: Timeouts
    ) -> StreamHandle:
        resp = await self._transport.open_stream(
            self._url(deployment, "/chat/completions"),
            self._body(request, deployment, stream=True),
            self._headers(deployment),
            timeouts,
        )
        return StreamHandle(self._chunks(resp, timeouts, deployment.params.max_response_bytes))

    async def _chunks(self, resp: Any, timeouts: Timeouts, limit: int) -> ChatStream:
        done = False
        async for _event, data in self._transport.events(resp, timeouts, limit):
            if data == b"[DONE]":
                done = True
                continue
            try:
                chunk = orjson.loads(data)
            except orjson.JSONDecodeError:
                raise UpstreamBadResponseError(
                    f"openai upstream sent a malformed stream chunk: {data[:200]!r}"
                ) from None
            if json_too_deep(chunk):
                raise UpstreamBadResponseError(
                    "openai upstream sent a stream chunk nested too deep"
                )
            if isinstance(chunk, dict) and "error" in chunk:
                err = chunk["error"]
                msg = err.get("message") if isinstance(err, dict) else err
                raise UpstreamBadResponseError(f"openai upstream stream error: {msg}")
            yield chunk
        if not done:
            raise UpstreamBadResponseError("openai upstream stream ended without [DONE]")

    async def embed(
        self, body: dict[str, Any], deployment: Deployment, timeouts: Timeouts
    ) -> dict[str, Any]:
        out = {k: v for k, v in body.items() if k not in gateway_only_fields}
        out["model"] = deployment.params.upstream_model
        raw = await self._transport.post_json(
            self._url(deployment, "/embeddings"),
            orjson.dumps(out),
            self._headers(deployment),
            timeouts,
            deployment.params.max_response_bytes,
        )
        try:
            data: dict[str, Any] = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise UpstreamBadResponseError(
                "openai upstream sent invalid JSON for embeddings"
            ) from None
        return data
