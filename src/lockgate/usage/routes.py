"""HTTP routes: usage reports and feedback summaries (admin), and POST /v1/feedback.

- ``GET /admin/usage?group_by=key,day&since=2026-01-01&until=2026-02-01&model=...``:
  requests, tokens and spend per group, with totals (master key).
- ``GET /admin/feedback?model=...``: feedback per model and prompt version (master key).
- ``POST /v1/feedback``: rate an answer by its request id (the key that made the request,
  or the master key).

Reports flush the usage writer first, so they include every request finished so far.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lockgate.api.common import json_response, read_json, with_errors
from lockgate.api.flow import admin_services, start_context
from lockgate.errors import BadRequestError, NotFoundError
from lockgate.services import Services, services
from lockgate.usage.feedback import parse_feedback
from lockgate.usage.reports import ReportQuery, parse_dimensions, totals
from lockgate.usage.repository import UsageRepository
from lockgate.usage.sinks import find_usage_writer

__all__ = ["routes"]

_FEEDBACK_BODY_LIMIT = 16 * 1024


async def _flush(svc: Services) -> None:
    writer = find_usage_writer(svc.sinks)
    if writer is not None:
        await writer.flush()


async def _admin(request: Request) -> Services:
    return await admin_services(request, services(request))


def _day(value: str | None, name: str) -> str | None:
    if value is None or value == "":
        return None
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        raise BadRequestError(f"'{name}' must be a date, YYYY-MM-DD.", param=name) from None
    return value


@with_errors("openai")
async def usage_report(request: Request) -> Response:
    """Spend and tokens grouped by key, user, team, model, provider, day and/or route."""
    svc = await _admin(request)
    q = request.query_params
    try:
        dims = parse_dimensions(q.get("group_by", "model"))
    except ValueError as exc:
        raise BadRequestError(str(exc), param="group_by") from None
    query = ReportQuery(
        group_by=dims,
        since=_day(q.get("since"), "since"),
        until=_day(q.get("until"), "until"),
        key_id=q.get("key_id") or None,
        team=q.get("team") or None,
        user=q.get("user") or None,
        model=q.get("model") or None,
    )
    await _flush(svc)
    rows = await UsageRepository(svc.db).report(query)
    return json_response(
        {
            "group_by": list(dims),
            "since": query.since,
            "until": query.until,
            "rows": [r.to_json() for r in rows],
            "totals": totals(rows).to_json(),
        }
    )


@with_errors("openai")
async def feedback_summary(request: Request) -> Response:
    """Feedback per model and prompt version."""
    svc = await _admin(request)
    summaries = await UsageRepository(svc.db).feedback_summary(
        request.query_params.get("model") or None
    )
    return json_response({"data": [s.to_json() for s in summaries]})


@with_errors("openai")
async def post_feedback(request: Request) -> Response:
    """Record feedback on one answer, found by its request id."""
    svc = services(request)
    ctx = await start_context(request, svc, "openai")
    body = await read_json(request, _FEEDBACK_BODY_LIMIT)
    p = ctx.principal
    entry = parse_feedback(body, now=time.time(), key_id=p.key_id)
    repo = UsageRepository(svc.db)
    if find_usage_writer(svc.sinks) is not None:
        await _flush(svc)
        row = await repo.get(entry.request_id)
        # Someone else's request is as unknown as a made-up one: ids are not secrets,
        # but ratings of another key's traffic would skew its numbers.
        if row is None or not (p.is_admin or svc.auth.open_mode or row["key_id"] == p.key_id):
            raise NotFoundError(f"No request with id {entry.request_id!r}.", param="request_id")
        entry = dataclasses.replace(
            entry,
            model=row["model"],
            prompt_version=entry.prompt_version or row["prompt_version"],
        )
    feedback_id = await repo.add_feedback(entry)
    return json_response(
        {
            "id": feedback_id,
            "object": "feedback",
            "request_id": entry.request_id,
            "model": entry.model,
            "prompt_version": entry.prompt_version,
        },
        201,
        headers={"x-request-id": ctx.request_id},
    )


routes = [
    Route("/admin/usage", usage_report, methods=["GET"]),
    Route("/admin/feedback", feedback_summary, methods=["GET"]),
    Route("/v1/feedback", post_feedback, methods=["POST"]),
]
