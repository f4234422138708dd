"""Anthropic-compatible route: POST /v1/messages, served by any provider."""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lockgate.api.common import error_body, json_response, read_json, with_errors
from lockgate.api.flow import (
    abandon_stream,
    account_stream,
    cancel_on_disconnect,
    recorded_failures,
    response_headers,
    run_chat,
    start_context,
)
from lockgate.api.sse_response import SSEResponse
from lockgate.chat import ChatRequest, ChatResponse, ChatStream, parse_chat_request
from lockgate.context import RequestContext
from lockgate.errors import GatewayError
from lockgate.services import Services, services
from lockgate.sse import encode_event
from lockgate.wire.anthropic_request import anthropic_to_openai_request
from lockgate.wire.anthropic_response import openai_to_anthropic_response
from lockgate.wire.anthropic_stream import ChunksToAnthropic

__all__ = ["hot_paths", "routes"]


@with_errors("anthropic")
async def messages(request: Request) -> Response:
    svc = services(request)
    ctx = await start_context(request, svc, "anthropic", record_failure=True)
    with recorded_failures(svc, ctx):
        body = await read_json(
            request, svc.settings.general_settings.max_request_body_bytes, ctx.client_headers
        )
        chat = parse_chat_request(anthropic_to_openai_request(body))
    result = await cancel_on_disconnect(request, run_chat(svc, ctx, chat))
    if isinstance(result, ChatResponse):
        return json_response(
            openai_to_anthropic_response(result, chat.model), headers=response_headers(ctx)
        )
    headers = response_headers(ctx) | {"cache-control": "no-cache"}
    events = _anthropic_sse(svc, ctx, chat, result)
    return SSEResponse(events, headers, abandon=lambda: abandon_stream(svc, ctx, chat, result))


async def _anthropic_sse(
    svc: Services, ctx: RequestContext, chat: ChatRequest, stream: ChatStream
) -> AsyncIterator[bytes]:
    translator = ChunksToAnthropic(chat.model, "msg_" + ctx.request_id.removeprefix("req_"))
    try:
        async for chunk in account_stream(svc, ctx, chat, stream):
            for name, data in translator.feed(chunk):
                yield encode_event(name, data)
        for name, data in translator.finish():
            yield encode_event(name, data)
    except GatewayError as err:
        yield encode_event("error", error_body(err, "anthropic"))


hot_paths = {"/v1/messages": messages}

routes = [Route("/v1/messages", messages, methods=["POST"])]
