"""Pieces every route shares: body reading, key extraction, error rendering."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
import structlog
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from lockgate.api.json_answer import JSONAnswer
from lockgate.chat_fields import MAX_JSON_DEPTH, json_too_deep
from lockgate.context import ApiFlavor, RequestContext
from lockgate.errors import (
    BadRequestError,
    GatewayError,
    InternalError,
    PayloadTooLargeError,
    ServiceUnavailableError,
    UnsupportedMediaTypeError,
)

__all__ = [
    "CONTEXT_SCOPE_KEY",
    "REQUEST_ID_SCOPE_KEY",
    "ClientDisconnected",
    "DirectRequest",
    "Endpoint",
    "error_body",
    "error_response",
    "header_map",
    "json_response",
    "presented_key",
    "read_json",
    "wait_committed",
    "with_errors",
]

log = structlog.get_logger("lockgate.api")

#: where a request's id is kept in the ASGI scope once it is known
REQUEST_ID_SCOPE_KEY = "lockgate.request_id"
#: where a chat request's context is kept in the ASGI scope once it is open
CONTEXT_SCOPE_KEY = "lockgate.ctx"
#: the status recorded (and logged) for a client that went away; nothing is sent
CLIENT_CLOSED = 499


class ClientDisconnected(Exception):
    """The client hung up (mid-body or while the answer was prepared): nothing to send."""


Endpoint = Callable[[Request], Awaitable[Response]]


class DirectRequest(Request):
    """A request lockgate's own protocol serves (serving/fastlane.py): the protocol sees
    the client leave, so no task has to wait for ``http.disconnect`` to notice it."""

    def watch_client(self) -> None:
        """Cancel the task serving this request (the protocol made it) if the client
        leaves, at once if it already left."""
        raise NotImplementedError

    def unwatch_client(self) -> bool:
        """Stop watching; whether the task was cancelled because the client left."""
        raise NotImplementedError


def header_map(request: Request) -> dict[str, str]:
    """The request's headers as a plain dict (lower-case names), built once.

    Starlette's ``Headers.get`` scans and decodes the raw list on every call; a
    request's headers are read a handful of times along the pipeline.
    """
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in request.scope["headers"]}


def presented_key(headers: Mapping[str, str]) -> str | None:
    auth = headers.get("authorization")
    if auth:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        return auth.strip()
    return headers.get("x-api-key") or headers.get("api-key")


async def read_json(request: Request, limit: int, headers: Mapping[str, str] | None = None) -> Any:
    """The request's JSON body; 413 before reading when it is declared too large, 415
    before reading when it is compressed (never inflated: no zip bombs)."""
    encoding = (headers if headers is not None else request.headers).get("content-encoding")
    if encoding is not None and encoding.strip().lower() not in ("", "identity"):
        raise UnsupportedMediaTypeError(
            f"Content-Encoding {encoding.strip()[:40]!r} is not supported: send the JSON body"
            " uncompressed."
        )
    try:
        body = await _read_body(request, limit, headers)
    except ClientDisconnect:
        raise ClientDisconnected from None
    if not body:
        raise BadRequestError("Request body is empty; expected a JSON object.")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequestError(f"Malformed JSON in request body: {exc}") from None
    if json_too_deep(data, body):
        raise BadRequestError(f"Request JSON nests deeper than {MAX_JSON_DEPTH} levels.")
    return data


async def _read_body(request: Request, limit: int, headers: Mapping[str, str] | None) -> bytes:
    declared = (headers if headers is not None else request.headers).get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise BadRequestError("Invalid Content-Length header.") from None
        if size > limit:
            raise PayloadTooLargeError(
                f"Request body of {size} bytes exceeds the limit of {limit} bytes."
            )
        body = await request.body()
    else:
        parts: list[bytes] = []
        seen = 0
        async for part in request.stream():
            seen += len(part)
            if seen > limit:
                raise PayloadTooLargeError(f"Request body exceeds the limit of {limit} bytes.")
            parts.append(part)
        body = b"".join(parts)
    return body


def error_body(err: GatewayError, flavor: ApiFlavor) -> dict[str, Any]:
    if flavor == "anthropic":
        return {"type": "error", "error": {"type": err.anthropic_type, "message": err.message}}
    return {
        "error": {"message": err.message, "type": err.type, "code": err.code, "param": err.param}
    }


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return JSONAnswer(orjson.dumps(data), status, headers)


def error_response(
    err: GatewayError, flavor: ApiFlavor, headers: dict[str, str] | None = None
) -> Response:
    out = dict(headers or {})
    if err.headers:
        out.update(err.headers)
    if err.retry_after is not None:
        out["retry-after"] = str(max(1, round(err.retry_after)))
    out["x-lockgate-error-fault"] = err.fault
    return json_response(error_body(err, flavor), err.status, out)


def _id_header(request: Request) -> dict[str, str] | None:
    rid = request.scope.get(REQUEST_ID_SCOPE_KEY)
    return {"x-request-id": rid} if rid else None


def with_errors(flavor: ApiFlavor) -> Callable[[Endpoint], Endpoint]:
    """Render any ``GatewayError`` (and any bug) as a correctly shaped error response."""

    def wrap(endpoint: Endpoint) -> Endpoint:
        async def handler(request: Request) -> Response:
            try:
                response = await endpoint(request)
            except GatewayError as err:
                response = error_response(err, flavor, _id_header(request))
            except ClientDisconnected:
                return Response(status_code=CLIENT_CLOSED)  # nobody is listening
            except Exception:
                log.exception("unhandled error", path=request.url.path)
                response = error_response(
                    InternalError("Internal gateway error."), flavor, _id_header(request)
                )
            ctx: RequestContext | None = request.scope.get(CONTEXT_SCOPE_KEY)
            if ctx is not None and ctx.committed is not None:
                timeout = request.state.services.settings.audit.sync_timeout_seconds
                try:
                    await wait_committed(ctx, timeout)
                except GatewayError as err:
                    return error_response(err, flavor, _id_header(request))
            return response

        handler.__name__ = endpoint.__name__
        handler.__doc__ = endpoint.__doc__
        return handler

    return wrap


async def wait_committed(ctx: RequestContext, limit_s: float) -> None:
    """Wait until the request's audit record is committed (``audit: {durability: sync}``).

    Past ``limit_s`` seconds the answer is withheld: a 503 rather than an unaudited response.
    """
    pending = ctx.committed
    if pending is None:
        return
    ctx.committed = None
    try:
        async with asyncio.timeout(limit_s):
            await asyncio.shield(pending)
    except TimeoutError:
        raise ServiceUnavailableError(
            "The audit log could not be written in time; the answer is withheld.",
            code="audit_unavailable",
            retry_after=1.0,
        ) from None
