"""Usage: spend and tokens by key, team, user, model or day, from the rollups; CSV export.

``GET /ui/usage?by=team&days=30`` renders the table and a chart; ``&format=csv`` returns
the same rows as a CSV file.  ``days`` is bounded (1..400); an unknown ``by`` falls back
to ``model``.  A virtual key's session sees its own rows only (by model, day or key).
"""

from __future__ import annotations

import csv
import io
import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lockgate.console.charts import bars
from lockgate.console.queries import DAY_S, GROUPS, Group, UsageRow, usage_by
from lockgate.console.view import Console, page, render

__all__ = ["routes", "to_csv"]

#: what a virtual key's own view may group by (team and user would name other keys' use)
KEY_GROUPS: tuple[Group, ...] = ("model", "day", "key")

_CSV_COLUMNS = (
    "requests",
    "errors",
    "cache_hits",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "cost_usd",
    "avg_latency_ms",
)


def to_csv(group: str, rows: list[UsageRow], labels: dict[str, str]) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow([group, *(["name"] if labels else []), *_CSV_COLUMNS])
    for r in rows:
        extra = [labels.get(r.label, "")] if labels else []
        w.writerow([r.label, *extra, *(getattr(r, c) for c in _CSV_COLUMNS)])
    return out.getvalue()


def _days(text: str | None) -> int:
    try:
        return min(max(int(text or "7"), 1), 400)
    except ValueError:
        return 7


@page()
async def usage(request: Request, console: Console) -> Response:
    q = request.query_params
    groups = GROUPS if console.admin else KEY_GROUPS
    by_text = q.get("by", "model")
    group: Group = by_text if by_text in groups else "model"
    days = _days(q.get("days"))
    today = int(console.now // DAY_S * DAY_S)
    since = today - (days - 1) * DAY_S
    rows = await usage_by(console.svc.db.engine, group, since, key_id=console.key_id)
    labels: dict[str, str] = {}
    if group == "key" and console.admin:
        labels = {k.id: k.name for k in await console.svc.keys.list(include_revoked=True)}
    elif group == "key":
        labels = {str(console.key_id): str(console.key_name)}
    elif group == "day":
        labels = {r.label: console_day(int(r.label)) for r in rows}
    if q.get("format") == "csv":
        return Response(
            to_csv(group, rows, labels),
            media_type="text/csv; charset=utf-8",
            headers={
                "content-disposition": f'attachment; filename="usage-by-{group}.csv"',
                "cache-control": "no-store",
            },
        )
    chart = bars([(labels.get(r.label, r.label), r.cost_usd) for r in rows[:40]])
    return render(
        "usage.html",
        c=console,
        nav="usage",
        rows=rows,
        labels=labels,
        group=group,
        groups=groups,
        days=days,
        chart=chart,
        total_cost=sum(r.cost_usd for r in rows),
        total_requests=sum(r.requests for r in rows),
    )


def console_day(epoch: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(epoch))


routes = [Route("/ui/usage", usage, methods=["GET"])]
