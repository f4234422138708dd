"""Anthropic-compatible route: POST /v1/messages, served by any provider.

An Anthropic upstream gets the client's own body and the client gets the
upstream's own answer and events (see ``NativeRequest``); other providers are
reached through the canonical form and translated back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lockgate.api.common import error_body, json_response, read_json, with_errors
from lockgate.api.flow import (
    CLIENT_CLOSED,
    StreamAccount,
    abandon_stream,
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
from lockgate.chat_fields import as_sent
from lockgate.context import RequestContext
from lockgate.dispatcher import deployment_timeouts
from lockgate.errors import BadRequestError, GatewayError, InternalError
from lockgate.providers.anthropic import AnthropicProvider
from lockgate.services import Services, services
from lockgate.sse import encode_event
from lockgate.token_count import estimate_body_tokens
from lockgate.wire.anthropic_request import translate_anthropic_request
from lockgate.wire.anthropic_response import openai_to_anthropic_response
from lockgate.wire.anthropic_stream import ChunksToAnthropic

__all__ = ["hot_paths", "routes"]

#: chat fields an Anthropic field became, for errors that name them
_AS_SENT = {"stop": "stop_sequences", "user": "metadata.user_id"}

#: client headers an Anthropic upstream needs to see (beta features)
FORWARDED_HEADERS = ("anthropic-beta",)


@with_errors("anthropic")
async def messages(request: Request) -> Response:
    svc = services(request)
    ctx = await start_context(request, svc, "anthropic", record_failure=True)
    with recorded_failures(svc, ctx):
        body = await read_json(
            request, svc.settings.general_settings.max_chat_body_bytes, ctx.client_headers
        )
        canonical, lossy = translate_anthropic_request(body)
        with as_sent(_AS_SENT):
            chat = parse_chat_request(canonical)
        chat.native = NativeRequest(
            wire="anthropic",
            body=body,
            messages=chat.messages,
            headers={
                h: ctx.client_headers[h] for h in FORWARDED_HEADERS if h in ctx.client_headers
            },
            lossy=lossy,
        )
    result = await cancel_on_disconnect(request, run_chat(svc, ctx, chat))
    if isinstance(result, ChatResponse):
        answer = result.native
        if answer is None:
            answer = openai_to_anthropic_response(result, chat.model)
        return json_response(answer, headers=response_headers(ctx))
    headers = response_headers(ctx) | {"cache-control": "no-cache"}
    events = _anthropic_sse(svc, ctx, chat, result)
    return SSEResponse(events, headers, abandon=lambda: abandon_stream(svc, ctx, chat, result))


async def _anthropic_sse(
    svc: Services, ctx: RequestContext, chat: ChatRequest, stream: ChatStream
) -> AsyncIterator[bytes]:
    translator = ChunksToAnthropic(chat.model, "msg_" + ctx.request_id.removeprefix("req_"))
    native: bool | None = None  # decided by the first chunk
    account = StreamAccount(svc, ctx, chat, stream)
    try:
        async for chunk in account.watch:
            if native is None:
                native = isinstance(chunk, NativeChunk)
            if native:
                if not isinstance(chunk, NativeChunk):
                    # A stage rewrote a chunk after the raw events began: the raw
                    # events can no longer be trusted to match what the client may see.
                    raise InternalError("a same-wire stream was rewritten midway")
                for name, data in chunk.events:
                    yield b"event: " + name.encode() + b"\ndata: " + data + b"\n\n"
                continue
            for name, payload in translator.feed(chunk):
                yield encode_event(name, payload)
        await account.end(200)
        if not native:
            for name, payload in translator.finish():
                yield encode_event(name, payload)
    except GatewayError as err:
        await account.end(err.status, err)
        yield encode_event("error", error_body(err, "anthropic"))
    finally:
        await account.end(CLIENT_CLOSED)  # the client left, or a bug (recorded once)


@with_errors("anthropic")
async def count_tokens(request: Request) -> Response:
    """POST /v1/messages/count_tokens: the prompt's input tokens for the model's family."""
    svc = services(request)
    ctx = await start_context(request, svc, "anthropic")
    body = await read_json(
        request, svc.settings.general_settings.max_chat_body_bytes, ctx.client_headers
    )
    if not isinstance(body, dict):
        raise BadRequestError("Request body must be a JSON object.")
    # The count request has no max_tokens; the translation wants one.
    canonical, _ = translate_anthropic_request({**body, "max_tokens": 1})
    alias = canonical["model"]
    svc.router.resolve(alias)
    ctx.principal.check_model(alias)
    deployment = svc.router.choose(alias)
    ctx.deployment = deployment
    if deployment.params.wire == "anthropic":
        native = NativeRequest(
            wire="anthropic",
            body=body,
            messages=canonical["messages"],
            headers={
                h: ctx.client_headers[h] for h in FORWARDED_HEADERS if h in ctx.client_headers
            },
        )
        provider = svc.providers.get("anthropic")
        assert isinstance(provider, AnthropicProvider)
        timeouts = deployment_timeouts(deployment, svc.settings.router_settings, stream=False)
        tokens = await provider.count_tokens(native, deployment, timeouts)
        method = "provider"
    elif deployment.params.wire == "openai":
        tokens, exact = await svc.token_counter.count(canonical, deployment.params.upstream_model)
        method = "tiktoken" if exact else "tiktoken-approx"
    else:
        tokens = estimate_body_tokens(canonical)
        method = "estimate"
    headers = {"x-request-id": ctx.request_id, "x-lockgate-token-count": method}
    return json_response({"input_tokens": tokens}, headers=headers)


hot_paths = {"/v1/messages": messages}

routes = [
    Route("/v1/messages", messages, methods=["POST"]),
    Route("/v1/messages/count_tokens", count_tokens, methods=["POST"]),
]
