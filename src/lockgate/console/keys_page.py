"""Keys and teams: list with spend against budget, create (secret shown once), rotate, revoke.

Spend comes from the daily rollup (today and the calendar month, UTC); a key's budget is
its ``limits.budget`` (``{day: USD, month: USD}``), the one the limiter enforces.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lockgate.auth.changes import announce_key_change
from lockgate.auth.keys import ApiKey
from lockgate.console.queries import usage_by
from lockgate.console.view import Console, page, render
from lockgate.errors import GatewayError
from lockgate.limits.rules import rules_from_spec

__all__ = ["routes"]


def _month_start(now: float) -> int:
    d = dt.datetime.fromtimestamp(now, dt.UTC)
    return int(dt.datetime(d.year, d.month, 1, tzinfo=dt.UTC).timestamp())


def _budget(key: ApiKey, period: str) -> float | None:
    budget = key.limits.get("budget") or {}
    value = budget.get(period) if isinstance(budget, dict) else None
    return float(value) if isinstance(value, int | float) else None


async def _show(console: Console, status: int = 200, **ctx: Any) -> Response:
    svc = console.svc
    engine = svc.db.engine
    today = int(console.now // 86400 * 86400)
    month = {r.label: r for r in await usage_by(engine, "key", _month_start(console.now))}
    day = {r.label: r.cost_usd for r in await usage_by(engine, "key", today)}
    teams = await usage_by(engine, "team", _month_start(console.now))
    keys = await svc.keys.list(include_revoked=True)
    rows = [
        {
            "key": k,
            "active": k.active(console.now),
            "today": day.get(k.id, 0.0),
            "month": month[k.id].cost_usd if k.id in month else 0.0,
            "requests": month[k.id].requests if k.id in month else 0,
            "budget_day": _budget(k, "day"),
            "budget_month": _budget(k, "month"),
        }
        for k in keys
    ]
    ctx.setdefault("secret", None)
    ctx.setdefault("error", None)
    return render("keys.html", status, c=console, nav="keys", rows=rows, teams=teams, **ctx)


@page(admin=True)
async def keys(request: Request, console: Console) -> Response:
    return await _show(console)


def _field(console: Console, name: str) -> str:
    value = console.form.get(name) if console.form is not None else None
    return value.strip()[:200] if isinstance(value, str) else ""


def _limits(console: Console) -> dict[str, Any]:
    limits: dict[str, Any] = {}
    budget = {p: _field(console, f"budget_{p}") for p in ("day", "month")}
    if any(budget.values()):
        limits["budget"] = {p: float(v) for p, v in budget.items() if v}
    rpm = _field(console, "rpm")
    if rpm:
        limits["requests"] = f"{int(rpm)}/minute"
    rules_from_spec("key", limits)  # the admin API's validation
    return limits


@page(admin=True)
async def create(request: Request, console: Console) -> Response:
    name = _field(console, "name")
    if not name:
        return await _show(console, 400, error="A key needs a name.")
    try:
        limits = _limits(console)
    except ValueError as exc:
        return await _show(console, 400, error=f"Limits: {exc}")
    models = [m.strip() for m in _field(console, "models").split(",") if m.strip()]
    secret, key = await console.svc.keys.create(
        name, models=models or None, team=_field(console, "team") or None, limits=limits or None
    )
    return await _show(console, 201, secret={"name": key.name, "value": secret})


async def _changed(console: Console) -> None:
    console.svc.auth.forget()
    await announce_key_change(console.svc.settings.general_settings.redis_url)


@page(admin=True)
async def revoke(request: Request, console: Console) -> Response:
    try:
        await console.svc.keys.revoke(request.path_params["key_id"])
    except GatewayError as exc:
        return await _show(console, exc.status, error=exc.message)
    await _changed(console)
    return await _show(console)


@page(admin=True)
async def rotate(request: Request, console: Console) -> Response:
    try:
        secret, key = await console.svc.keys.rotate(request.path_params["key_id"])
    except GatewayError as exc:
        return await _show(console, exc.status, error=exc.message)
    await _changed(console)
    return await _show(console, secret={"name": key.name, "value": secret})


routes = [
    Route("/ui/keys", keys, methods=["GET"]),
    Route("/ui/keys", create, methods=["POST"]),
    Route("/ui/keys/{key_id}/revoke", revoke, methods=["POST"]),
    Route("/ui/keys/{key_id}/rotate", rotate, methods=["POST"]),
]
