"""OpenAI and OpenAI-compatible upstreams (vLLM, Ollama, LM Studio, ...)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import orjson

from lockgate.chat import (
    ChatRequest,
    ChatResponse,
    ChatStream,
    NativeChunk,
    RawChunk,
    Usage,
    usage_from_openai,
)
from lockgate.chat_fields import json_too_deep
from lockgate.errors import UnsupportedParamError, UpstreamBadResponseError
from lockgate.provider_presets import preset_for
from lockgate.providers.base import StreamHandle, Timeouts
from lockgate.providers.defaults import apply_defaults
from lockgate.providers.transport import Transport
from lockgate.settings import Deployment
from lockgate.tokens import content_text, estimate_message_tokens, estimate_tokens
from lockgate.wire import completions
from lockgate.wire.cache_marks import strip_cache_control

__all__ = ["OpenAIProvider", "gateway_only_fields"]

DEFAULT_BASE = "https://api.openai.com/v1"

#: orjson writes at most 254 levels of nesting (``json_too_deep``)
_DEPTH_LIMIT = 254

#: Body fields that are lockgate's own and never go upstream; every other field
#: (vendor extensions such as vLLM's ``top_k`` included) goes through unchanged.
gateway_only_fields = frozenset({"cache", "lockgate", "prompt_variables"})


class OpenAIProvider:
    name = "openai"

    def __init__(self, max_connections: int = 512) -> None:
        self._transport = Transport("openai", max_connections)

    async def aclose(self) -> None:
        await self._transport.aclose()

    def _url(self, deployment: Deployment, path: str) -> str:
        params = deployment.params
        preset = preset_for(params.provider)
        base = (params.api_base or preset.base_url or DEFAULT_BASE).rstrip("/")
        if preset.azure:
            # Azure routes by deployment name in the path; the body's model is ignored.
            return (
                f"{base}/openai/deployments/{quote(params.upstream_model, safe='')}{path}"
                f"?api-version={quote(params.api_version or '', safe='')}"
            )
        return base + path

    def _headers(
        self, deployment: Deployment, idempotency_key: str | None = None
    ) -> dict[str, str]:
        params = deployment.params
        headers = {"content-type": "application/json", **params.extra_headers}
        if idempotency_key is not None:
            headers["idempotency-key"] = idempotency_key
        if params.azure_ad_token is not None:
            headers["authorization"] = "Bearer " + params.azure_ad_token.get_secret_value()
            return headers
        key = params.api_key
        if key is not None:
            auth = preset_for(params.provider).auth
            if auth == "bearer":
                headers["authorization"] = "Bearer " + key.get_secret_value()
            else:
                headers[auth] = key.get_secret_value()
        return headers

    def _body(self, request: ChatRequest, deployment: Deployment, stream: bool) -> bytes:
        native = request.native
        if native is not None and native.lossy and not deployment.params.drop_params:
            raise UnsupportedParamError(
                f"This model's provider speaks the OpenAI wire, which has no place for:"
                f" {', '.join(native.lossy)}. Remove them, use a model served by"
                " Anthropic, or set drop_params: true on the deployment.",
                param=native.lossy[0].split(" ")[0],
            )
        source = request.body
        if native is not None and native.wire == "anthropic":
            source = strip_cache_control(source)  # the translation's marks, not the client's
        if native is not None and self._legacy(request, deployment):
            source = native.body
            if request.body.get("messages") is not native.messages:
                # A stage rewrote the prompt (redaction): send its version.
                source = {**source, "prompt": content_text(request.messages[-1].get("content"))}
        body = {
            k: v
            for k, v in apply_defaults(source, deployment.params).items()
            if k not in gateway_only_fields
        }
        body["model"] = deployment.params.upstream_model
        if stream:
            body["stream"] = True
            if preset_for(deployment.params.provider).stream_options:
                # Always ask for usage: the gateway accounts for it even when the client
                # did not.
                options = body.get("stream_options") or {}
                body["stream_options"] = {**options, "include_usage": True}
            else:
                body.pop("stream_options", None)
        else:
            body.pop("stream", None)
            body.pop("stream_options", None)
        return orjson.dumps(body)

    @staticmethod
    def _legacy(request: ChatRequest, deployment: Deployment) -> bool:
        """Whether a /v1/completions request goes to the upstream's own /completions."""
        native = request.native
        if native is None or native.wire != completions.WIRE:
            return False
        if preset_for(deployment.params.provider).legacy_completions:
            return True
        completions.check_chat_served(
            request, deployment.params.provider, deployment.params.drop_params
        )
        return False

    def _path(self, request: ChatRequest, deployment: Deployment) -> str:
        return "/completions" if self._legacy(request, deployment) else "/chat/completions"

    async def chat(
        self, request: ChatRequest, deployment: Deployment, timeouts: Timeouts
    ) -> ChatResponse:
        path = self._path(request, deployment)
        raw = await self._transport.post_json(
            self._url(deployment, path),
            self._body(request, deployment, stream=False),
            self._headers(deployment, request.idempotency_key),
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
        if json_too_deep(data, raw):
            raise UpstreamBadResponseError("openai upstream sent JSON nested too deep")
        usage = usage_from_openai(data.get("usage"))
        if path == "/completions":
            return ChatResponse(body=completions.completion_to_chat(data), usage=usage, native=data)
        return ChatResponse(body=data, usage=usage)

    async def stream(
        self, request: ChatRequest, deployment: Deployment, timeouts: Timeouts
    ) -> StreamHandle:
        path = self._path(request, deployment)
        resp = await self._transport.open_stream(
            self._url(deployment, path),
            self._body(request, deployment, stream=True),
            self._headers(deployment, request.idempotency_key),
            timeouts,
        )
        limit = deployment.params.max_response_bytes
        return StreamHandle(
            self._chunks(resp, timeouts, limit, request, legacy=path == "/completions")
        )

    async def _chunks(
        self, resp: Any, timeouts: Timeouts, limit: int, request: ChatRequest, *, legacy: bool
    ) -> ChatStream:
        """The upstream's chunks, each still holding its exact bytes (``RawChunk``).

        If the server sent no usage (older Ollama and vLLM builds, Mistral without
        stream_options), the stream ends with an estimated usage chunk so limits,
        budgets and records still see the request's size.
        """
        done = False
        seen_usage = False
        text: list[str] = []
        last: dict[str, Any] | None = None
        batches = self._transport.event_batches(resp, timeouts, limit)
        try:
            async for batch in batches:
                final = len(batch) - 1
                for i, (_event, data) in enumerate(batch):
                    # More follows at once: the next event came in the same read (after
                    # [DONE] only the connection's end, which comes with it, is awaited).
                    more = i < final
                    chunk = self._chunk(data, legacy, more)
                    if chunk is None:
                        done = True
                        continue
                    if chunk.get("usage"):
                        seen_usage = True
                    elif not seen_usage:
                        for choice in chunk.get("choices") or ():
                            delta = choice.get("delta") or {}
                            text.append(str(delta.get("content") or ""))
                    last = chunk
                    yield chunk
        finally:
            await batches.aclose()  # an early exit closes the upstream connection at once
        if not done:
            raise UpstreamBadResponseError("openai upstream stream ended without [DONE]")
        if not seen_usage and last is not None:
            usage = Usage(
                prompt_tokens=estimate_message_tokens(request.messages),
                completion_tokens=estimate_tokens("".join(text)),
            )
            yield {
                "id": last.get("id"),
                "object": last.get("object", "chat.completion.chunk"),
                "created": last.get("created"),
                "model": last.get("model"),
                "choices": [],
                "usage": usage.to_openai(),
            }

    @staticmethod
    def _chunk(data: bytes, legacy: bool, more: bool) -> dict[str, Any] | None:
        """One ``data:`` payload as a chunk; None for ``[DONE]``."""
        if data == b"[DONE]":
            return None
        try:
            parsed = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise UpstreamBadResponseError(
                f"openai upstream sent a malformed stream chunk: {data[:200]!r}"
            ) from None
        if not isinstance(parsed, dict):
            raise UpstreamBadResponseError(
                f"openai upstream sent a stream chunk that is not an object: {data[:200]!r}"
            )
        # Nesting needs an opening bracket per level: a chunk with fewer brackets than the
        # limit cannot be too deep, and is not encoded again just to find out.
        if data.count(b"{") + data.count(b"[") >= _DEPTH_LIMIT and json_too_deep(parsed):
            raise UpstreamBadResponseError("openai upstream sent a stream chunk nested too deep")
        if "error" in parsed:
            err = parsed["error"]
            msg = err.get("message") if isinstance(err, dict) else err
            raise UpstreamBadResponseError(f"openai upstream stream error: {msg}")
        if legacy:
            return NativeChunk(completions.completion_chunk_to_chat(parsed), [("", data)])
        groq = parsed.get("x_groq")
        if isinstance(groq, dict) and groq.get("usage") and not parsed.get("usage"):
            parsed["usage"] = groq["usage"]  # Groq's place for stream usage
            return parsed  # no longer what the upstream sent
        return RawChunk(parsed, data, more)

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
