"""Logs: the request list with filters in the URL, and one request's detail on click.

The detail shows the usage row (timings, attempts, tokens, cost, cache, deployment) and,
when the audit trail is on, the audited record's notes (guard verdicts and what other
stages noted).  Bodies are not shown.
"""

from __future__ import annotations

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


async def _audited(console: Console, request_id: str) -> dict[str, Any] | None:
    from lockgate.audit.repository import AuditRepository

    entries = await AuditRepository(console.svc.db).by_request_id(request_id)
    record = entries[-1]["record"] if entries else None
    return record if isinstance(record, dict) else None


@page()
async def log_detail(request: Request, console: Console) -> Response:
    request_id = request.path_params["request_id"]
    row = await detail(console.svc.db.engine, request_id, scope_key=console.key_id)
    if row is None:
        return render("error.html", 404, message=f"No request {request_id!r}.", c=console)
    audited = await _audited(console, request_id) if console.admin else None
    notes = (audited or {}).get("notes") or {}
    return render(
        "log_detail.html",
        c=console,
        nav="logs",
        row=row,
        guards=notes.get("guards") or {},
        notes=notes,
        audited=audited is not None,
        back=f"/ui/logs?{request.url.query}" if request.url.query else "/ui/logs",
    )


routes = [
    Route("/ui/logs", logs, methods=["GET"]),
    Route("/ui/logs/{request_id:path}", log_detail, methods=["GET"]),
]
