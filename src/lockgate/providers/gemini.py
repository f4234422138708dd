"""Google Gemini's Generative Language API and Vertex AI (generateContent /
streamGenerateContent, the same wire).

Reached with canonical requests, translated by :mod:`lockgate.wire.gemini`; streams
use ``alt=sse``.  Gemini's key goes in the ``x-goog-api-key`` header; Vertex AI is
reached at ``/v1/projects/{project}/locations/{location}/publishers/google/models/...``
with an OAuth bearer token (:mod:`lockgate.providers.vertex_auth`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import orjson

from lockgate.chat import ChatRequest, ChatResponse, ChatStream
from lockgate.errors import UnsupportedParamError, UpstreamBadResponseError
from lockgate.provider_presets import preset_for
from lockgate.providers.base import StreamHandle, Timeouts
from lockgate.providers.defaults import apply_defaults
from lockgate.providers.transport import Transport
from lockgate.providers.vertex_auth import VertexTokens
from lockgate.settings import Deployment
from lockgate.wire import completions
from lockgate.wire.gemini import GeminiToChunks, chat_to_gemini, gemini_to_chat

__all__ = ["GeminiProvider"]


class GeminiProvider:
    name = "gemini"

    def __init__(self, max_connections: int = 512) -> None:
        self._transport = Transport("gemini", max_connections)
        self._vertex = VertexTokens()

    async def aclose(self) -> None:
        await self._transport.aclose()

    def _url(self, deployment: Deployment, method: str) -> str:
        params = deployment.params
        model = quote(params.upstream_model, safe="")
        if preset_for(params.provider).vertex:
            loc = params.vertex_location
            host = (
                "aiplatform.googleapis.com"
                if loc == "global"
                else f"{loc}-aiplatform.googleapis.com"
            )
            base = (params.api_base or f"https://{host}").rstrip("/")
            project = quote(params.vertex_project or "", safe="")
            return (
                f"{base}/v1/projects/{project}/locations/{quote(loc, safe='')}"
                f"/publishers/google/models/{model}:{method}"
            )
        base = (params.api_base or preset_for(params.provider).base_url or "").rstrip("/")
        return f"{base}/models/{model}:{method}"

    async def _headers(self, deployment: Deployment) -> dict[str, str]:
        headers = {"content-type": "application/json", **deployment.params.extra_headers}
        if preset_for(deployment.params.provider).vertex:
            headers["authorization"] = "Bearer " + await self._vertex.token(deployment)
            return headers
        key = deployment.params.api_key
        if key is not None:
            headers["x-goog-api-key"] = key.get_secret_value()
        return headers

    def _body(self, request: ChatRequest, deployment: Deployment) -> bytes:
        native = request.native
        completions.check_chat_served(request, "Gemini", deployment.params.drop_params)
        if native is not None and native.lossy and not deployment.params.drop_params:
            raise UnsupportedParamError(
                f"This model's provider (Gemini) has no place for: {', '.join(native.lossy)}."
                " Remove them or set drop_params: true on the deployment.",
                param=native.lossy[0].split(" ")[0],
            )
        body = apply_defaults(request.body, deployment.params)
        return orjson.dumps(chat_to_gemini(body, drop_params=deployment.params.drop_params))

    async def chat(
        self, request: ChatRequest, deployment: Deployment, timeouts: Timeouts
    ) -> ChatResponse:
        raw = await self._transport.post_json(
            self._url(deployment, "generateContent"),
            self._body(request, deployment),
            await self._headers(deployment),
            timeouts,
            deployment.params.max_response_bytes,
        )
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise UpstreamBadResponseError("gemini upstream sent invalid JSON") from None
        if not isinstance(data, dict) or not isinstance(data.get("candidates"), list):
            raise UpstreamBadResponseError("gemini upstream sent a body without candidates")
        return gemini_to_chat(data, request.model)

    async def stream(
        self, request: ChatRequest, deployment: Deployment, timeouts: Timeouts
    ) -> StreamHandle:
        resp = await self._transport.open_stream(
            self._url(deployment, "streamGenerateContent") + "?alt=sse",
            self._body(request, deployment),
            await self._headers(deployment),
            timeouts,
        )
        limit = deployment.params.max_response_bytes
        return StreamHandle(self._chunks(resp, request.model, timeouts, limit))

    async def _chunks(self, resp: Any, model: str, timeouts: Timeouts, limit: int) -> ChatStream:
        translator = GeminiToChunks(model)
        async for _event, data in self._transport.events(resp, timeouts, limit):
            try:
                payload = orjson.loads(data)
            except orjson.JSONDecodeError:
                raise UpstreamBadResponseError(
                    f"gemini upstream sent a malformed stream chunk: {data[:200]!r}"
                ) from None
            if not isinstance(payload, dict):
                raise UpstreamBadResponseError("gemini upstream sent a non-object chunk")
            if "error" in payload:
                err = payload["error"]
                msg = err.get("message") if isinstance(err, dict) else err
                raise UpstreamBadResponseError(f"gemini upstream stream error: {msg}")
            for chunk in translator.feed(payload):
                yield chunk
        yield translator.usage_chunk()

    async def embed(
        self, body: dict[str, Any], deployment: Deployment, timeouts: Timeouts
    ) -> dict[str, Any]:
        raise UnsupportedParamError(
            "Embeddings are not available through this gateway for Gemini models.", param="model"
        )
