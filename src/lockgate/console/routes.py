"""The console's routes at /ui: login with the master key, then server-rendered pages.

- ``GET /ui/login``, ``POST /ui/login`` (form fields ``master_key`` and ``csrf``): sets a
  signed, HttpOnly, SameSite=Strict session cookie.  The login form is CSRF-protected
  too, by a short-lived login cookie whose token the form carries.  The master key opens
  every page; a virtual key opens its own view (overview, usage and logs of that key only).
- ``POST /ui/logout`` and every other POST need the session's CSRF token (view.page).
- ``GET /ui/``: the overview; the other pages live in one module each (keys_page,
  usage_page, logs_page, models_page).  Every page is one HTML document and one
  stylesheet, and makes no API calls of its own.
"""

from __future__ import annotations

import time
from importlib import resources
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from lockgate.console import (
    evals_page,
    keys_page,
    logs_page,
    model_forms,
    models_page,
    prompts_page,
    session,
    usage_page,
)
from lockgate.console.charts import bars
from lockgate.console.queries import (
    DAY_S,
    by_model,
    hourly_percentile,
    hourly_series,
    percentiles,
    usage_by,
)
from lockgate.console.view import Console, page, render, secret
from lockgate.errors import GatewayError
from lockgate.services import services

__all__ = ["routes"]

_NO_MASTER = "The console needs a master key (general_settings.master_key)."
LOGIN_TTL_S = 3600


def _login_form(key: bytes, request: Request, status: int, error: str | None) -> Response:
    """The login form with a fresh login-CSRF cookie and its token in the form."""
    cookie = session.issue(key, time.time(), session.LOGIN, ttl=LOGIN_TTL_S)
    found = session.verify(key, cookie, time.time())
    assert found is not None
    response = render("login.html", status, error=error, csrf=session.csrf_token(key, found.nonce))
    _set(response, request, session.LOGIN_COOKIE, cookie, LOGIN_TTL_S)
    return response


def _set(response: Response, request: Request, name: str, value: str, ttl: float) -> None:
    response.set_cookie(
        name,
        value,
        max_age=int(ttl),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/ui",
    )


async def login(request: Request) -> Response:
    svc = services(request)
    key = secret(svc)
    if key is None:
        return render("login.html", 403, error=_NO_MASTER, csrf="")
    if request.method == "GET":
        return _login_form(key, request, 200, None)
    form = await request.form(max_files=0, max_fields=5)
    # login CSRF: the form must come from a login page this browser was given
    pre = session.verify(key, request.cookies.get(session.LOGIN_COOKIE), time.time())
    if pre is None or pre.subject != session.LOGIN:
        return _login_form(key, request, 403, "The login form expired: try again.")
    if form.get("csrf") != session.csrf_token(key, pre.nonce):
        return _login_form(key, request, 403, "Missing or wrong CSRF token.")
    presented = form.get("master_key")
    principal = None
    if isinstance(presented, str) and presented:
        try:
            principal = await svc.auth.authenticate(presented)
        except GatewayError:
            principal = None
    if principal is None or (not principal.is_admin and principal.key_id is None):
        return _login_form(key, request, 401, "That key is not valid here.")
    subject = session.ADMIN if principal.is_admin else str(principal.key_id)
    response = RedirectResponse("/ui/", status_code=303)
    _set(response, request, session.COOKIE, session.issue(key, time.time(), subject), session.TTL_S)
    response.delete_cookie(session.LOGIN_COOKIE, path="/ui")
    return response


@page()
async def logout(request: Request, console: Console) -> Response:
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(session.COOKIE, path="/ui")
    return response


def _hour(epoch: int) -> str:
    return time.strftime("%H:00", time.gmtime(epoch))


@page()
async def overview(request: Request, console: Console) -> Response:
    now_hour = int(console.now // 3600) * 3600
    engine = console.svc.db.engine
    #: ``?model=``: the charts of one model (admins; a key's view charts its own days)
    model = request.query_params.get("model") or None if console.admin else None
    if console.admin:
        since = now_hour - 23 * 3600
        series = await hourly_series(engine, since, now_hour + 3600, model)
        points = [(_hour(h), r) for h, r in series]
        period, unit = "last 24 hours", "hour (UTC)"
    else:  # a key's own rows live in the daily rollup: its view counts days
        since = now_hour // DAY_S * DAY_S - 29 * DAY_S
        days = await usage_by(engine, "day", since, key_id=console.key_id)
        points = [(time.strftime("%m-%d", time.gmtime(int(r.label))), r) for r in days]
        period, unit = "last 30 days", "day (UTC)"
    rows = await by_model(engine, since, key_id=console.key_id)
    # a key's own view has no histograms of its own: it shows averages
    pcts = await percentiles(engine, since) if console.admin else {}
    p95_charts = {}
    if console.admin:
        for metric in ("latency", "ttft"):
            hours = await hourly_percentile(engine, metric, 95, since, now_hour + 3600, model)
            p95_charts[metric] = bars([(_hour(h), v or 0.0) for h, v in hours])
    shown = [r for r in rows if model is None or r.model == model]
    return render(
        "overview.html",
        c=console,
        nav="overview",
        rows=rows,
        model=model,
        pcts=pcts,
        p95_charts=p95_charts,
        period=period,
        unit=unit,
        total_requests=sum(r.requests for r in shown),
        total_errors=sum(r.errors for r in shown),
        total_hits=sum(r.cache_hits for r in shown),
        total_cost=sum(r.cost_usd for r in shown),
        total_saved=sum(r.saved_usd for r in shown),
        requests_chart=bars([(label, r.requests) for label, r in points]),
        errors_chart=bars([(label, 100 * r.error_rate) for label, r in points]),
        tokens_chart=bars([(label, r.prompt_tokens + r.completion_tokens) for label, r in points]),
        cost_chart=bars([(label, r.cost_usd) for label, r in points]),
        saved_chart=bars([(label, r.saved_usd) for label, r in points]),
        breakers=_breaker_counts(console) if console.admin else None,
    )


def _breaker_counts(console: Console) -> dict[str, Any]:
    """Breaker states now: a count per state and the deployments not closed."""
    deps = models_page.deployments(console)
    counts: dict[str, int] = {}
    for d in deps:
        counts[d["state"]] = counts.get(d["state"], 0) + 1
    return {"counts": sorted(counts.items()), "open": [d for d in deps if d["state"] != "closed"]}


def _stylesheet() -> bytes:
    return resources.files("lockgate.console").joinpath("static/console.css").read_bytes()


async def stylesheet(request: Request) -> Response:
    return Response(
        _stylesheet(),
        media_type="text/css",
        headers={"cache-control": "public, max-age=3600"},
    )


routes: list[BaseRoute] = [
    Route("/ui/login", login, methods=["GET", "POST"]),
    Route("/ui/logout", logout, methods=["POST"]),
    Route("/ui/static/console.css", stylesheet, methods=["GET"]),
    Route("/ui/", overview, methods=["GET"]),
    Route("/ui", overview, methods=["GET"]),
    *keys_page.routes,
    *usage_page.routes,
    *logs_page.routes,
    *models_page.routes,
    *model_forms.routes,
    *prompts_page.routes,
    *evals_page.routes,
]
