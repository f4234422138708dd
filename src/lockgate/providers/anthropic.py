"""Anthropic's Messages API, reached with canonical (OpenAI-shaped) requests.

A /v1/messages client's request goes through natively (see ``NativeRequest``):
its own body with only ``model`` and ``stream`` rewritten, its ``anthropic-beta``
header forwarded, and the upstream's answer (or each raw stream event) handed
back beside the canonical translation the pipeline works on.  Everything else
is translated from and to the canonical form.
"""

from __future__ import annotations

from typing import Any

import orjson

from lockgate.chat import ChatRequest, ChatResponse, ChatStream, NativeChunk, NativeRequest
from lockgate.chat_fields import json_too_deep
from lockgate.errors import UpstreamBadResponseError, UpstreamClientError
from lockgate.providers.base import StreamHandle, Timeouts
from lockgate.providers.defaults import apply_defaults
from lockgate.providers.transport import Transport
from lockgate.settings import Deployment
from lockgate.wire import completions
from lockgate.wire.anthropic_params import RESPONSE_FORMAT_TOOL, response_format_tool
from lockgate.wire.anthropic_request import openai_to_anthropic_request
from lockgate.wire.anthropic_response import anthropic_to_openai_response
from lockgate.wire.anthropic_stream import AnthropicToChunks
from lockgate.wire.cache_marks import mark_anthropic

__all__ = ["ANTHROPIC_VERSION", "AnthropicProvider", "native_anthropic"]

DEFAULT_BASE = "https://api.anthropic.com"
ANTHROPIC_VERSION = "2023-06-01"
#: the fields Anthropic's count_tokens endpoint takes
_COUNT_FIELDS = frozenset(
    {"messages", "system", "tools", "tool_choice", "thinking", "mcp_servers", "context_management"}
)
#: fields of a native body that are lockgate's own
_GATEWAY_FIELDS = ("cache", "lockgate")


def native_anthropic(request: ChatRequest) -> NativeRequest | None:
    """The client's Anthropic body, if it may go upstream as it is."""
    native = request.native
    if native is None or native.wire != "anthropic":
        return None
    if request.body.get("messages") is not native.messages:
        return None  # a stage rewrote the messages: its version wins
    return native


class AnthropicProvider:
    name = "anthropic"

    def __init__(self, max_connections: int = 512) -> None:
        self._transport = Transport("anthropic", max_connections)

    async def aclose(self) -> None:
        await self._transport.aclose()

    def _url(self, deployment: Deployment) -> str:
        base = (deployment.params.api_base or DEFAULT_BASE).rstrip("/")
        return base + ("/messages" if base.endswith("/v1") else "/v1/messages")

    def _headers(
        self,
        deployment: Deployment,
        native: NativeRequest | None,
        idempotency_key: str | None = None,
    ) -> dict[str, str]:
        headers = {
            "content-type": "application/json",
            "anthropic-version": ANTHROPIC_VERSION,
            **deployment.params.extra_headers,
        }
        if native is not None:
            headers.update(native.headers)
        if idempotency_key is not None:
            headers["idempotency-key"] = idempotency_key
        key = deployment.params.api_key
        if key is not None:
            headers["x-api-key"] = key.get_secret_value()
        return headers

    def _body(
        self, request: ChatRequest, deployment: Deployment, native: NativeRequest | None
    ) -> bytes:
        params = deployment.params
        completions.check_chat_served(request, "Anthropic", params.drop_params)
        if native is not None:
            body = {k: v for k, v in native.body.items() if k not in _GATEWAY_FIELDS}
            body["model"] = params.upstream_model
            body["stream"] = request.stream
            body = apply_defaults(body, params)
        else:
            body = openai_to_anthropic_request(
                apply_defaults({**request.body, "stream": request.stream}, params),
                params.upstream_model,
                drop_params=params.drop_params,
            )
        if request.auto_cache_ttl is not None:
            mark = {"type": "ephemeral"}
            if request.auto_cache_ttl != "5m":
                mark["ttl"] = request.auto_cache_ttl
            body = mark_anthropic(body, mark)
        return orjson.dumps(body)

    async def chat(
        self, request: ChatRequest, deployment: Deployment, timeouts: Timeouts
    ) -> ChatResponse:
        native = native_anthropic(request)
        raw = await self._transport.post_json(
            self._url(deployment),
            self._body(request, deployment, native),
            self._headers(deployment, native, request.idempotency_key),
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
        if json_too_deep(data, raw):
            raise UpstreamBadResponseError("anthropic upstream sent JSON nested too deep")
        response = anthropic_to_openai_response(data, request.model, _json_tool(request, native))
        if native is not None:
            response.native = data
        return response

    async def stream(
        self, request: ChatRequest, deployment: Deployment, timeouts: Timeouts
    ) -> StreamHandle:
        native = native_anthropic(request)
        resp = await self._transport.open_stream(
            self._url(deployment),
            self._body(request, deployment, native),
            self._headers(deployment, native, request.idempotency_key),
            timeouts,
        )
        translator = AnthropicToChunks(request.model, _json_tool(request, native))
        limit = deployment.params.max_response_bytes
        return StreamHandle(self._chunks(resp, translator, timeouts, limit, native is not None))

    async def _chunks(
        self,
        resp: Any,
        translator: AnthropicToChunks,
        timeouts: Timeouts,
        limit: int,
        native: bool,
    ) -> ChatStream:
        # Native: raw events ride on the next chunk made, so none is lost or reordered.
        pending: list[tuple[str, bytes]] = []
        async for event, data in self._transport.events(resp, timeouts, limit):
            try:
                payload = orjson.loads(data)
            except orjson.JSONDecodeError:
                raise UpstreamBadResponseError(
                    f"anthropic upstream sent a malformed stream event: {data[:200]!r}"
                ) from None
            if not isinstance(payload, dict):
                raise UpstreamBadResponseError("anthropic upstream sent a non-object event")
            if json_too_deep(payload, data):
                raise UpstreamBadResponseError("anthropic upstream sent an event nested too deep")
            chunks = translator.feed(event, payload)
            if not native:
                for chunk in chunks:
                    yield chunk
                continue
            pending.append((event or str(payload.get("type", "")), data))
            for chunk in chunks:
                yield NativeChunk(chunk, pending)
                pending = []
        if not translator.done:
            raise UpstreamBadResponseError("anthropic upstream stream ended without message_stop")

    async def count_tokens(
        self, native: NativeRequest, deployment: Deployment, timeouts: Timeouts
    ) -> int:
        """Anthropic's own count of a Messages body's input tokens."""
        body = {k: v for k, v in native.body.items() if k in _COUNT_FIELDS}
        body["model"] = deployment.params.upstream_model
        raw = await self._transport.post_json(
            self._url(deployment) + "/count_tokens",
            orjson.dumps(body),
            self._headers(deployment, native),
            timeouts,
            deployment.params.max_response_bytes,
        )
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            data = None
        if not isinstance(data, dict) or not isinstance(data.get("input_tokens"), int):
            raise UpstreamBadResponseError("anthropic upstream sent no input_tokens count")
        count: int = data["input_tokens"]
        return count

    async def embed(
        self, body: dict[str, Any], deployment: Deployment, timeouts: Timeouts
    ) -> dict[str, Any]:
        raise UpstreamClientError("Anthropic offers no embeddings endpoint", status=400)


def _json_tool(request: ChatRequest, native: NativeRequest | None) -> str | None:
    """The response_format tool's name when the request asked for structured output."""
    if native is None and response_format_tool(request.body.get("response_format")) is not None:
        return RESPONSE_FORMAT_TOOL
    return None
