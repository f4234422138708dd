"""Logs: the request list with filters in the URL, and one request's detail on click.

The detail shows the usage row (timings, attempts, tokens, cost, cache, deployment) and,
to admins when the audit trail is on, the audited record's notes (guard verdicts and what
other stages noted) and its stored bodies (already redacted by the guards), decrypted
with the gateway's audit key.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lockgate.console.logs import Cursor, LogFilter, detail, list_logs
from lockgate.console.view import Console, page, render

__all__ = ["routes"]


PAGE = 50


def _limit(text: str | None) -> int:
    """Rows per page from ``?n=`` (1..200; 50 when absent or malformed)."""
    try:
        return min(max(int(text or PAGE), 1), 200)
    except ValueError:
        return PAGE


@page()
async def logs(request: Request, console: Console) -> Response:
    q = request.query_params
    f = LogFilter.from_query(q)
    after = Cursor.decode(q.get("after"))
    limit = _limit(q.get("n"))
    result = await list_logs(console.svc.db.engine, f, after, limit=limit, scope_key=console.key_id)
    more = {"n": str(limit)} if limit != PAGE else {}
    next_url = f"/ui/logs?{f.query(**more, after=result.next.encode())}" if result.next else None
    return render(
        "logs.html",
        c=console,
        nav="logs",
        rows=result.rows,
        f=f,
        filter_query=f.query(),
        next_url=next_url,
        first_page=after is None,
    )


async def _audited(
    console: Console, request_id: str
) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """The audited record of ``request_id`` and its bodies, decrypted when the gateway holds
    the audit key (pretty JSON per body field; a note instead when it cannot decrypt)."""
    from lockgate.audit.crypto import DecryptionError
    from lockgate.audit.entry import BODY_FIELDS, decrypt_body
    from lockgate.audit.repository import AuditRepository
    from lockgate.audit.sinks import body_cipher

    entries = await AuditRepository(console.svc.db).by_request_id(request_id)
    if not entries:
        return None, {}
    entry = entries[-1]
    record = entry["record"] if isinstance(entry["record"], dict) else None
    bodies: dict[str, str] = {}
    stored = [f for f in BODY_FIELDS if entry.get(f) is not None]
    cipher = body_cipher(console.svc.settings) if stored else None
    for name in stored:
        if cipher is None:
            bodies[name] = "(encrypted: the gateway holds no audit key)"
            continue
        try:
            bodies[name] = json.dumps(decrypt_body(cipher, entry, name), indent=2)
        except DecryptionError:
            bodies[name] = "(cannot decrypt with the current audit key)"
    return record, bodies


@page()
async def log_detail(request: Request, console: Console) -> Response:
    request_id = request.path_params["request_id"]
    row = await detail(console.svc.db.engine, request_id, scope_key=console.key_id)
    if row is None:
        return render("error.html", 404, message=f"No request {request_id!r}.", c=console)
    audited, bodies = await _audited(console, request_id) if console.admin else (None, {})
    notes = (audited or {}).get("notes") or {}
    return render(
        "log_detail.html",
        c=console,
        nav="logs",
        row=row,
        guards=notes.get("guards") or {},
        notes=notes,
        audited=audited is not None,
        attempt_log=(audited or {}).get("attempt_log") or [],
        headers=(audited or {}).get("request_headers") or {},
        bodies=bodies,
        back=f"/ui/logs?{request.url.query}" if request.url.query else "/ui/logs",
    )


routes = [
    Route("/ui/logs", logs, methods=["GET"]),
    Route("/ui/logs/{request_id:path}", log_detail, methods=["GET"]),
]
