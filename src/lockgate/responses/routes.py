"""OpenAI's Responses API on any provider: POST/GET/DELETE /v1/responses.

A Responses request is translated to the canonical chat form and walks the same
pipeline as /v1/chat/completions (auth, guards, limits, cache, resilience,
records); the answer is translated back into a ``response`` object or the typed
stream events.  With ``store`` (the default) the response and its conversation
are kept, so ``previous_response_id`` continues it and GET reads it back.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lockgate.api.common import json_response, read_json, with_errors
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
from lockgate.chat_fields import as_sent
from lockgate.context import RequestContext
from lockgate.errors import BadRequestError, GatewayError, NotFoundError
from lockgate.responses.store import StoredResponse
from lockgate.services import Services, services
from lockgate.sse import encode_event
from lockgate.wire.responses_request import ResponsesRequest, parse_responses_request
from lockgate.wire.responses_response import (
    ChunksToResponseEvents,
    assistant_message,
    build_response,
    new_response_id,
)

__all__ = ["routes"]


def _owner(ctx: RequestContext) -> str:
    """Whose stored responses these are: the API key's (never shared with another key,
    not even one of the same team), or the master key's."""
    p = ctx.principal
    return f"key:{p.key_id}" if p.key_id else p.kind


#: chat fields a Responses field became, for errors that name them
_AS_SENT = {"max_completion_tokens": "max_output_tokens"}


@with_errors("openai")
async def create_response(request: Request) -> Response:
    svc = services(request)
    ctx = await start_context(request, svc, "openai", record_failure=True)
    with recorded_failures(svc, ctx):
        body = await read_json(
            request, svc.settings.general_settings.max_chat_body_bytes, ctx.client_headers
        )
        parsed = parse_responses_request(body)
        history: list[dict[str, Any]] = []
        if parsed.previous_response_id is not None:
            previous = await svc.responses.get(
                parsed.previous_response_id, _owner(ctx), time.time()
            )
            if previous is None:
                raise BadRequestError(
                    f"Previous response with id '{parsed.previous_response_id}' not found.",
                    param="previous_response_id",
                    status=404,
                )
            history = previous.history
        system = [{"role": "system", "content": parsed.instructions}] if parsed.instructions else []
        conversation = history + parsed.input_messages
        with as_sent(_AS_SENT):
            chat = parse_chat_request({**parsed.chat, "messages": system + conversation})
    response_id = new_response_id()
    with as_sent(_AS_SENT):
        result = await cancel_on_disconnect(request, run_chat(svc, ctx, chat))
    headers = response_headers(ctx)
    if isinstance(result, ChatResponse):
        answer = build_response(response_id, parsed.model, result.body, result.usage, parsed.echo)
        await _store(svc, ctx, parsed, conversation, answer)
        return json_response(answer, headers=headers)
    events = _events(svc, ctx, parsed, chat, conversation, response_id, result)
    return SSEResponse(
        events,
        headers | {"cache-control": "no-cache"},
        abandon=lambda: abandon_stream(svc, ctx, chat, result),
    )


async def _store(
    svc: Services,
    ctx: RequestContext,
    parsed: ResponsesRequest,
    conversation: list[dict[str, Any]],
    answer: dict[str, Any],
) -> None:
    """Keep the answer for continuations and GET; one too large to keep says
    ``store: false`` (the client is told before the answer leaves)."""
    if not parsed.store:
        return
    reply = assistant_message(answer)
    history = conversation + ([reply] if reply is not None else [])
    now = time.time()
    entry = StoredResponse(
        _owner(ctx), answer, history, now, now + svc.settings.responses.ttl_seconds
    )
    if not await svc.responses.put(answer["id"], entry):
        answer["store"] = False


async def _events(
    svc: Services,
    ctx: RequestContext,
    parsed: ResponsesRequest,
    chat: ChatRequest,
    conversation: list[dict[str, Any]],
    response_id: str,
    stream: ChatStream,
) -> AsyncIterator[bytes]:
    translator = ChunksToResponseEvents(response_id, parsed.model, parsed.echo)
    for name, data in translator.start():
        yield encode_event(name, data)
    try:
        async for chunk in account_stream(svc, ctx, chat, stream):
            for name, data in translator.feed(chunk):
                yield encode_event(name, data)
        final = translator.finish()
    except GatewayError as err:
        yield encode_event(
            "error",
            {"type": "error", "code": err.code, "message": err.message, "param": err.param},
        )
        return
    if translator.response is not None:
        # Stored before the completed event leaves: a continuation may follow at once.
        await _store(svc, ctx, parsed, conversation, translator.response)
    for name, data in final:
        yield encode_event(name, data)


@with_errors("openai")
async def retrieve_response(request: Request) -> Response:
    svc = services(request)
    ctx = await start_context(request, svc, "openai")
    response_id = request.path_params["response_id"]
    entry = await svc.responses.get(response_id, _owner(ctx), time.time())
    if entry is None:
        raise NotFoundError(f"Response with id '{response_id}' not found.")
    return json_response(entry.response, headers={"x-request-id": ctx.request_id})


@with_errors("openai")
async def delete_response(request: Request) -> Response:
    svc = services(request)
    ctx = await start_context(request, svc, "openai")
    response_id = request.path_params["response_id"]
    if not await svc.responses.delete(response_id, _owner(ctx)):
        raise NotFoundError(f"Response with id '{response_id}' not found.")
    return json_response(
        {"id": response_id, "object": "response", "deleted": True},
        headers={"x-request-id": ctx.request_id},
    )


routes = [
    Route("/v1/responses", create_response, methods=["POST"]),
    Route("/v1/responses/{response_id}", retrieve_response, methods=["GET"]),
    Route("/v1/responses/{response_id}", delete_response, methods=["DELETE"]),
]
