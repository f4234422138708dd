"""Legacy text completions: POST /v1/completions, for OpenAI-compatible upstreams.

The request walks the chat pipeline as one user message (see
:mod:`lockgate.wire.completions`); an OpenAI-compatible upstream is called at
``/completions`` with the client's own body and its answer (or raw stream
events) returned as it came.
"""

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
from lockgate.chat import (
    ChatRequest,
    ChatResponse,
    ChatStream,
    NativeChunk,
    NativeRequest,
    parse_chat_request,
)
from lockgate.context import RequestContext
from lockgate.errors import GatewayError
from lockgate.services import Services, services
from lockgate.sse import DONE, encode_data
from lockgate.wire import completions

__all__ = ["routes"]


@with_errors("openai")
async def create_completion(request: Request) -> Response:
    svc = services(request)
    ctx = await start_context(request, svc, "openai", record_failure=True)
    with recorded_failures(svc, ctx):
        body = await read_json(
            request, svc.settings.general_settings.max_chat_body_bytes, ctx.client_headers
        )
        chat = parse_chat_request(completions.completions_to_chat_body(body))
        chat.native = NativeRequest(wire=completions.WIRE, body=body, messages=chat.messages)
    result = await cancel_on_disconnect(request, run_chat(svc, ctx, chat))
    if isinstance(result, ChatResponse):
        answer = result.native
        if answer is None:
            answer = completions.chat_to_completion(result)
        return json_response(answer, headers=response_headers(ctx))
    headers = response_headers(ctx) | {"cache-control": "no-cache"}
    events = _sse(svc, ctx, chat, result)
    return SSEResponse(events, headers, abandon=lambda: abandon_stream(svc, ctx, chat, result))


async def _sse(
    svc: Services, ctx: RequestContext, chat: ChatRequest, stream: ChatStream
) -> AsyncIterator[bytes]:
    try:
        async for chunk in account_stream(svc, ctx, chat, stream):
            if not chunk.get("choices") and not chat.include_usage:
                continue  # the usage chunk the client did not ask for
            if isinstance(chunk, NativeChunk):
                for _, data in chunk.events:
                    yield b"data: " + data + b"\n\n"
            else:
                yield encode_data(completions.chat_chunk_to_completion(chunk))
        yield DONE
    except GatewayError as err:
        yield encode_data(error_body(err, "openai"))


routes = [
    Route("/v1/completions", create_completion, methods=["POST"]),
    Route("/completions", create_completion, methods=["POST"]),
]
