"""The audit log through a running gateway's admin API (master key only).

* ``GET /admin/audit/verify?expect_head=SEQ:HASH``: the hash chain checked; answers
  ``{"ok", "checked", "start": {"seq", "hash"}, "head": {...} | null, "first_bad_seq",
  "reason"}``.
* ``GET /admin/audit/export?since=UNIX&bodies=true|false``: JSON lines
  (``application/x-ndjson``), bodies decrypted with the gateway's audit key.  A failure
  after the first line (a body the key cannot decrypt) ends the stream with one
  ``{"error": {...}}`` line, since the status is already sent.
* ``POST /admin/audit/prune`` ``{"older_than_days": N}`` (default ``audit.retention_days``):
  ``{"deleted", "checkpoint": {"seq", "hash"} | null}``.

``lockgate audit verify|export|prune --url`` render them.  Records still queued in the
writer are flushed first, so every finished request is included.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import asdict

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from lockgate.api.common import json_response, with_errors
from lockgate.api.flow import start_context
from lockgate.audit.crypto import DecryptionError
from lockgate.audit.repository import AuditRepository
from lockgate.audit.sinks import body_cipher
from lockgate.audit.writer import AuditWriter
from lockgate.errors import BadRequestError, ConflictError, PermissionDeniedError
from lockgate.services import Services, services
from lockgate.settings import ConfigError

__all__ = ["parse_head", "routes"]


def parse_head(text: str) -> tuple[int, str]:
    """``SEQ:HASH`` → (seq, hash); ValueError naming the expected form."""
    seq, sep, digest = text.partition(":")
    if not sep or not seq.lstrip("-").isdigit() or len(digest) != 64:
        raise ValueError("expected SEQ:HASH, e.g. 41:3fa1...(64 hex digits)")
    return int(seq), digest.lower()


async def _admin(request: Request) -> Services:
    """The services, once the caller proved to be the admin; the writer's queue flushed."""
    svc = services(request)
    ctx = await start_context(request, svc, "openai")
    if not (ctx.principal.is_admin or svc.auth.open_mode):
        raise PermissionDeniedError("The admin API needs the master key.", code="admin_only")
    for sink in svc.sinks:
        if isinstance(sink, AuditWriter):
            await sink.flush()
    return svc


def _number(raw: str | None, name: str) -> float | None:
    if raw is None or raw == "":
        return None
    try:
        return float(raw)
    except ValueError:
        raise BadRequestError(f"'{name}' must be a number, got {raw!r}.", param=name) from None


@with_errors("openai")
async def verify(request: Request) -> Response:
    svc = await _admin(request)
    expect = request.query_params.get("expect_head")
    try:
        head = parse_head(expect) if expect else None
    except ValueError as exc:
        raise BadRequestError(f"'expect_head': {exc}", param="expect_head") from None
    result = await AuditRepository(svc.db).verify(expected_head=head)
    return json_response(asdict(result))


@with_errors("openai")
async def export(request: Request) -> Response:
    svc = await _admin(request)
    since = _number(request.query_params.get("since"), "since")
    raw = request.query_params.get("bodies", "true").lower()
    if raw not in ("true", "false", "1", "0"):
        raise BadRequestError(f"'bodies' must be true or false, got {raw!r}.", param="bodies")
    bodies = raw in ("true", "1")
    try:
        cipher = body_cipher(svc.settings) if bodies else None
    except ConfigError as exc:
        raise ConflictError(str(exc), code="audit_key_invalid") from None
    lines = AuditRepository(svc.db).export_lines(cipher=cipher, bodies=bodies, since=since)
    try:  # the first line decides the status: a key problem is a 409, not a broken stream
        first = await anext(lines, None)
    except (DecryptionError, ValueError) as exc:
        message = exc.message if isinstance(exc, DecryptionError) else str(exc)
        raise ConflictError(
            f"{message}; set {svc.settings.audit.key_env} on the gateway or pass bodies=false",
            code="audit_key_missing",
        ) from None

    async def rest() -> AsyncIterator[bytes]:
        if first is None:
            return
        yield first
        try:
            async for line in lines:
                yield line
        except (DecryptionError, ValueError) as exc:
            message = exc.message if isinstance(exc, DecryptionError) else str(exc)
            yield orjson.dumps({"error": {"message": message, "code": "audit_export"}}) + b"\n"

    return StreamingResponse(rest(), media_type="application/x-ndjson")


@with_errors("openai")
async def prune(request: Request) -> Response:
    svc = await _admin(request)
    try:
        body = orjson.loads(await request.body() or b"{}")
    except orjson.JSONDecodeError:
        raise BadRequestError("The body must be JSON.") from None
    if not isinstance(body, dict):
        raise BadRequestError("The body must be a JSON object.")
    raw = body.get("older_than_days", svc.settings.audit.retention_days)
    if raw is None:
        raise BadRequestError(
            "Give 'older_than_days' or set audit.retention_days.", param="older_than_days"
        )
    if isinstance(raw, bool) or not isinstance(raw, int | float) or raw <= 0:
        raise BadRequestError(
            f"'older_than_days' must be a positive number, got {raw!r}.", param="older_than_days"
        )
    now = time.time()
    result = await AuditRepository(svc.db).prune(older_than=now - float(raw) * 86400.0, now=now)
    point = result.checkpoint
    return json_response(
        {
            "deleted": result.deleted,
            "older_than_days": raw,
            "checkpoint": None if point is None else {"seq": point.seq, "hash": point.hash},
        }
    )


routes = [
    Route("/admin/audit/verify", verify, methods=["GET"]),
    Route("/admin/audit/export", export, methods=["GET"]),
    Route("/admin/audit/prune", prune, methods=["POST"]),
]
