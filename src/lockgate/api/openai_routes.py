"""OpenAI-compatible routes: /v1/chat/completions, /v1/models, /v1/embeddings."""

from __future__ import annotations

import time
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
from lockgate.api.sse_response import LastEvent, SSEResponse
from lockgate.chat import ChatRequest, ChatResponse, ChatStream, RawChunk, parse_chat_request
from lockgate.context import RequestContext
from lockgate.embeddings import check_embeddings_body, run_embeddings
from lockgate.errors import GatewayError
from lockgate.services import Services, services
from lockgate.sse import DONE, encode_data

__all__ = ["hot_paths", "routes"]

SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


@with_errors("openai")
async def chat_completions(request: Request) -> Response:
    svc = services(request)
    ctx = await start_context(request, svc, "openai", record_failure=True)
    with recorded_failures(svc, ctx):
        body = await read_json(
            request, svc.settings.general_settings.max_chat_body_bytes, ctx.client_headers
        )
        chat = parse_chat_request(body)
    result = await cancel_on_disconnect(request, run_chat(svc, ctx, chat))
    if isinstance(result, ChatResponse):
        return json_response(result.body, headers=response_headers(ctx))
    headers = response_headers(ctx) | SSE_HEADERS
    stream = _openai_sse(svc, ctx, chat, result)
    return SSEResponse(stream, headers, abandon=lambda: abandon_stream(svc, ctx, chat, result))


async def _openai_sse(
    svc: Services, ctx: RequestContext, chat: ChatRequest, stream: ChatStream
) -> AsyncIterator[bytes]:
    include_usage = chat.include_usage
    held = b""  # raw chunks whose next event came in the same read: sent with it
    account = StreamAccount(svc, ctx, chat, stream)
    try:
        async for chunk in account.watch:
            raw, more = (chunk.raw, chunk.more) if isinstance(chunk, RawChunk) else (None, False)
            if not include_usage:
                if not chunk.get("choices"):
                    # the usage-only chunk the client did not ask for
                    if held and not more:
                        yield held
                        held = b""
                    continue
                if "usage" in chunk:
                    raw = _without_null_usage(chunk)
                    if raw is None:
                        chunk = {k: v for k, v in chunk.items() if k != "usage"}
            event = encode_data(chunk) if raw is None else b"data: " + raw + b"\n\n"
            if more and raw is not None:
                held += event
                continue
            yield held + event if held else event
            held = b""
        await account.end(200)
        yield LastEvent(held + DONE)
    except GatewayError as err:
        # Headers are gone: the only honest signal left is an error event, never [DONE].
        await account.end(err.status, err)
        yield LastEvent(held + encode_data(error_body(err, "openai")))
    finally:
        await account.end(CLIENT_CLOSED)  # the client left, or a bug (recorded once)


_NULL_USAGE = b'"usage":null'


def _without_null_usage(chunk: dict[str, object]) -> bytes | None:
    """The raw chunk without its ``"usage":null`` (OpenAI sends one in every chunk once
    usage is asked for), when that can be cut from the bytes exactly: the key occurs once
    in the whole payload and is written without spaces.  None otherwise (encode again).
    """
    if not isinstance(chunk, RawChunk) or chunk["usage"] is not None:
        return None
    raw = chunk.raw
    if raw.count(b'"usage"') != 1 or _NULL_USAGE not in raw:
        return None
    for cut in (b"," + _NULL_USAGE, _NULL_USAGE + b","):
        if cut in raw:
            return raw.replace(cut, b"", 1)
    return None


def _model_object(name: str, created: int) -> dict[str, object]:
    return {"id": name, "object": "model", "created": created, "owned_by": "lockgate"}


@with_errors("openai")
async def list_models(request: Request) -> Response:
    svc = services(request)
    ctx = await start_context(request, svc, "openai")
    hidden = svc.settings.router_settings.hidden_aliases()
    created = int(time.time())
    data = [
        _model_object(alias, created)
        for alias in svc.router.listed_models
        if alias not in hidden and ctx.principal.allows_model(alias)
    ]
    return json_response({"object": "list", "data": data}, headers={"x-request-id": ctx.request_id})


@with_errors("openai")
async def retrieve_model(request: Request) -> Response:
    """GET /v1/models/{id}: any name the gateway serves (wildcard matches included)."""
    svc = services(request)
    ctx = await start_context(request, svc, "openai")
    name = request.path_params["model_id"]
    svc.router.resolve(name)
    ctx.principal.check_model(name)
    return json_response(
        _model_object(name, int(time.time())), headers={"x-request-id": ctx.request_id}
    )


@with_errors("openai")
async def embeddings(request: Request) -> Response:
    svc = services(request)
    ctx = await start_context(request, svc, "openai")
    body = await read_json(
        request, svc.settings.general_settings.max_request_body_bytes, ctx.client_headers
    )
    result = await run_embeddings(svc, ctx, check_embeddings_body(body))
    return json_response(result, headers=response_headers(ctx))


hot_paths = {
    "/v1/chat/completions": chat_completions,
    "/chat/completions": chat_completions,
    "/v1/embeddings": embeddings,
    "/embeddings": embeddings,
}

routes = [
    Route("/v1/chat/completions", chat_completions, methods=["POST"]),
    Route("/chat/completions", chat_completions, methods=["POST"]),
    Route("/v1/models", list_models, methods=["GET"]),
    Route("/models", list_models, methods=["GET"]),
    Route("/v1/models/{model_id:path}", retrieve_model, methods=["GET"]),
    Route("/models/{model_id:path}", retrieve_model, methods=["GET"]),
    Route("/v1/embeddings", embeddings, methods=["POST"]),
    Route("/embeddings", embeddings, methods=["POST"]),
]
