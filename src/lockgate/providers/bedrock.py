"""AWS Bedrock's Converse and ConverseStream APIs.

Requests are signed with botocore's SigV4 signer (service ``bedrock``), or carry
a Bedrock API key as a bearer token; streams arrive in AWS's binary
event-stream framing, decoded with botocore's ``EventStreamBuffer``.  botocore
is imported on first use, so only deployments on Bedrock need it installed
(``pip install 'lockgate[bedrock]'``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import orjson

from lockgate.chat import ChatRequest, ChatResponse, ChatStream
from lockgate.errors import (
    UnsupportedParamError,
    UpstreamBadResponseError,
    UpstreamError,
    UpstreamOverloadedError,
    UpstreamRateLimitedError,
)
from lockgate.providers.base import StreamHandle, Timeouts
from lockgate.providers.defaults import apply_defaults
from lockgate.providers.transport import Transport
from lockgate.settings import Deployment
from lockgate.wire import completions
from lockgate.wire.anthropic_params import RESPONSE_FORMAT_TOOL, response_format_tool
from lockgate.wire.bedrock import BedrockToChunks, bedrock_to_chat, chat_to_bedrock

__all__ = ["BedrockProvider"]

_EVENT_STREAM = "application/vnd.amazon.eventstream"


class BedrockProvider:
    name = "bedrock"

    def __init__(self, max_connections: int = 512) -> None:
        self._transport = Transport("bedrock", max_connections)

    async def aclose(self) -> None:
        await self._transport.aclose()

    def _url(self, deployment: Deployment, action: str) -> str:
        p = deployment.params
        base = p.api_base or f"https://bedrock-runtime.{p.aws_region_name}.amazonaws.com"
        url = f"{base.rstrip('/')}/model/{quote(p.upstream_model, safe='')}/{action}"
        # The URL as the HTTP client will send it (yarl unquotes ':'): what is signed
        # must be exactly what goes on the wire.  (yarl, ~1 MiB resident: on first use.)
        import yarl

        return str(yarl.URL(url))

    def _signed(self, deployment: Deployment, url: str, body: bytes) -> dict[str, str]:
        p = deployment.params
        headers = {"content-type": "application/json", **p.extra_headers}
        if p.api_key is not None:  # a Bedrock API key
            headers["authorization"] = "Bearer " + p.api_key.get_secret_value()
            return headers
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        if p.aws_access_key_id is None or p.aws_secret_access_key is None:
            raise UnsupportedParamError(
                f"deployment {deployment.id} has no AWS credentials (aws_access_key_id and"
                " aws_secret_access_key, or api_key for a Bedrock API key)",
                param="model",
            )
        credentials = Credentials(
            p.aws_access_key_id,
            p.aws_secret_access_key.get_secret_value(),
            p.aws_session_token.get_secret_value() if p.aws_session_token else None,
        )
        request = AWSRequest(method="POST", url=url, data=body, headers=headers)
        SigV4Auth(credentials, "bedrock", p.aws_region_name or "us-east-1").add_auth(request)
        return dict(request.headers.items())

    def _body(self, request: ChatRequest, deployment: Deployment) -> bytes:
        native = request.native
        completions.check_chat_served(request, "Bedrock", deployment.params.drop_params)
        if native is not None and native.lossy and not deployment.params.drop_params:
            raise UnsupportedParamError(
                f"This model's provider (Bedrock Converse) has no place for:"
                f" {', '.join(native.lossy)}. Remove them or set drop_params: true.",
                param=native.lossy[0].split(" ")[0],
            )
        body = apply_defaults(request.body, deployment.params)
        return orjson.dumps(chat_to_bedrock(body, drop_params=deployment.params.drop_params))

    async def chat(
        self, request: ChatRequest, deployment: Deployment, timeouts: Timeouts
    ) -> ChatResponse:
        url = self._url(deployment, "converse")
        body = self._body(request, deployment)
        raw = await self._transport.post_json(
            url,
            body,
            self._signed(deployment, url, body),
            timeouts,
            deployment.params.max_response_bytes,
        )
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise UpstreamBadResponseError("bedrock upstream sent invalid JSON") from None
        if not isinstance(data, dict) or "output" not in data:
            raise UpstreamBadResponseError("bedrock upstream sent a body without output")
        return bedrock_to_chat(data, request.model, _json_tool(request))

    async def stream(
        self, request: ChatRequest, deployment: Deployment, timeouts: Timeouts
    ) -> StreamHandle:
        url = self._url(deployment, "converse-stream")
        body = self._body(request, deployment)
        resp = await self._transport.open_stream(
            url, body, self._signed(deployment, url, body), timeouts, expect=_EVENT_STREAM
        )
        limit = deployment.params.max_response_bytes
        return StreamHandle(self._chunks(resp, request.model, _json_tool(request), timeouts, limit))

    async def _chunks(
        self, resp: Any, model: str, json_tool: str | None, timeouts: Timeouts, limit: int
    ) -> ChatStream:
        from botocore.eventstream import EventStreamBuffer, InvalidHeadersLength, ParserError

        buffer = EventStreamBuffer()
        translator = BedrockToChunks(model, json_tool)
        async for data in self._transport.raw_chunks(resp, timeouts, limit):
            buffer.add_data(data)
            try:
                messages = list(buffer)
            except (ParserError, InvalidHeadersLength) as exc:
                raise UpstreamBadResponseError(
                    f"bedrock sent a broken event frame: {exc}"
                ) from None
            for message in messages:
                headers = message.headers
                try:
                    payload = orjson.loads(message.payload or b"{}")
                except orjson.JSONDecodeError:
                    raise UpstreamBadResponseError("bedrock sent a non-JSON event") from None
                if headers.get(":message-type") == "exception":
                    raise _stream_exception(str(headers.get(":exception-type")), payload)
                for chunk in translator.feed(str(headers.get(":event-type")), payload):
                    yield chunk
        if not translator.done:
            raise UpstreamBadResponseError("bedrock stream ended without its metadata event")

    async def embed(
        self, body: dict[str, Any], deployment: Deployment, timeouts: Timeouts
    ) -> dict[str, Any]:
        raise UnsupportedParamError(
            "Embeddings are not available through this gateway for Bedrock models.",
            param="model",
        )


def _json_tool(request: ChatRequest) -> str | None:
    """The response_format tool's name when the request asked for structured output."""
    if response_format_tool(request.body.get("response_format")) is not None:
        return RESPONSE_FORMAT_TOOL
    return None


def _stream_exception(kind: str, payload: Any) -> UpstreamError:
    detail = payload.get("message") if isinstance(payload, dict) else payload
    message = f"bedrock stream error {kind}: {detail}"
    if kind == "throttlingException":
        return UpstreamRateLimitedError(message)
    if kind in ("serviceUnavailableException", "modelNotReadyException"):
        return UpstreamOverloadedError(message)
    return UpstreamError(message)
