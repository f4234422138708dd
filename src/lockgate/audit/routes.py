"""``GET /admin/audit/verify``: the audit log's hash chain checked by a running gateway.

Query: ``expect_head=SEQ:HASH`` (optional, the newest record as noted elsewhere).
Answers ``{"ok", "checked", "start": {"seq", "hash"}, "head": {...} | null,
"first_bad_seq", "reason"}``; ``lockgate audit verify --url`` renders it.  Records
still queued in the writer are flushed first, so every finished request is included.
"""

from __future__ import annotations

from dataclasses import asdict

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lockgate.api.common import json_response, with_errors
from lockgate.api.flow import start_context
from lockgate.audit.repository import AuditRepository
from lockgate.audit.writer import AuditWriter
from lockgate.errors import BadRequestError, PermissionDeniedError
from lockgate.services import services

__all__ = ["parse_head", "routes"]


def parse_head(text: str) -> tuple[int, str]:
    """``SEQ:HASH`` → (seq, hash); ValueError naming the expected form."""
    seq, sep, digest = text.partition(":")
    if not sep or not seq.lstrip("-").isdigit() or len(digest) != 64:
        raise ValueError("expected SEQ:HASH, e.g. 41:3fa1...(64 hex digits)")
    return int(seq), digest.lower()


@with_errors("openai")
async def verify(request: Request) -> Response:
    svc = services(request)
    ctx = await start_context(request, svc, "openai")
    if not (ctx.principal.is_admin or svc.auth.open_mode):
        raise PermissionDeniedError("The admin API needs the master key.", code="admin_only")
    expect = request.query_params.get("expect_head")
    try:
        head = parse_head(expect) if expect else None
    except ValueError as exc:
        raise BadRequestError(f"'expect_head': {exc}", param="expect_head") from None
    for sink in svc.sinks:
        if isinstance(sink, AuditWriter):
            await sink.flush()
    result = await AuditRepository(svc.db).verify(expected_head=head)
    return json_response(asdict(result))


routes = [Route("/admin/audit/verify", verify, methods=["GET"])]
