"""The console's pages at /ui: login with the master key, then server-rendered pages.

- ``GET /ui/login``, ``POST /ui/login`` (form field ``master_key``): sets a signed,
  HttpOnly, SameSite=Strict session cookie.
- ``POST /ui/logout``: needs the session's CSRF token (every POST but login does).
- ``GET /ui/``: the overview (requests, error rate, latency, TTFT, tokens, cost per
  model over the last 24 hours), read from the hourly rollups.
"""

from __future__ import annotations

import functools
import time
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from lockgate.console import session
from lockgate.console.queries import by_model
from lockgate.errors import GatewayError
from lockgate.services import Services, services

if TYPE_CHECKING:
    import jinja2

__all__ = ["routes"]


@functools.cache
def _templates() -> jinja2.Environment:
    import jinja2  # only once a page is rendered

    return jinja2.Environment(
        loader=jinja2.PackageLoader("lockgate.console", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


def _render(name: str, status: int = 200, **ctx: object) -> HTMLResponse:
    return HTMLResponse(_templates().get_template(name).render(**ctx), status_code=status)


def _secret(svc: Services) -> bytes | None:
    master = svc.settings.general_settings.master_key
    return session.secret_of(master.get_secret_value()) if master is not None else None


def _nonce(request: Request, secret: bytes) -> str | None:
    return session.verify(secret, request.cookies.get(session.COOKIE), time.time())


_NO_MASTER = "The console needs a master key (general_settings.master_key)."


async def login(request: Request) -> Response:
    svc = services(request)
    secret = _secret(svc)
    if secret is None:
        return _render("login.html", 403, error=_NO_MASTER)
    if request.method == "GET":
        return _render("login.html", error=None)
    form = await request.form()
    presented = form.get("master_key")
    principal = None
    if isinstance(presented, str) and presented:
        try:
            principal = await svc.auth.authenticate(presented)
        except GatewayError:
            principal = None
    if principal is None or not principal.is_admin:
        return _render("login.html", 401, error="That is not the master key.")
    response = RedirectResponse("/ui/", status_code=303)
    response.set_cookie(
        session.COOKIE,
        session.issue(secret, time.time()),
        max_age=session.TTL_S,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/ui",
    )
    return response


async def logout(request: Request) -> Response:
    svc = services(request)
    secret = _secret(svc)
    nonce = _nonce(request, secret) if secret is not None else None
    if secret is None or nonce is None:
        return RedirectResponse("/ui/login", status_code=303)
    form = await request.form()
    if form.get("csrf") != session.csrf_token(secret, nonce):
        return _render("login.html", 403, error="Missing or wrong CSRF token.")
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(session.COOKIE, path="/ui")
    return response


async def overview(request: Request) -> Response:
    svc = services(request)
    secret = _secret(svc)
    nonce = _nonce(request, secret) if secret is not None else None
    if secret is None or nonce is None:
        return RedirectResponse("/ui/login", status_code=303)
    since = int(time.time() // 3600) * 3600 - 23 * 3600
    rows = await by_model(svc.db.engine, since)
    return _render(
        "overview.html",
        rows=rows,
        total_requests=sum(r.requests for r in rows),
        total_cost=sum(r.cost_usd for r in rows),
        csrf=session.csrf_token(secret, nonce),
    )


routes = [
    Route("/ui/login", login, methods=["GET", "POST"]),
    Route("/ui/logout", logout, methods=["POST"]),
    Route("/ui/", overview, methods=["GET"]),
    Route("/ui", overview, methods=["GET"]),
]
