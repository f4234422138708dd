"""What every console page shares: the session check, CSRF on POST, and rendering.

:func:`page` wraps a handler ``(request, console) -> Response``: without a genuine,
unexpired session cookie the browser is sent to the login page; a virtual key's session
ends when the key is revoked or expires, and reaches only the pages its own data is on
(``admin=True`` pages answer it 403); a POST whose form lacks the session's CSRF token is
refused with 403 before the handler runs.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from lockgate.console import session
from lockgate.errors import NotFoundError
from lockgate.services import Services, services

if TYPE_CHECKING:
    import jinja2

__all__ = ["HEADERS", "Console", "page", "render", "secret"]


@dataclass(frozen=True, slots=True)
class Console:
    """A logged-in page view: services, CSRF token, clock reading, whose view, the form."""

    svc: Services
    csrf: str
    now: float
    #: the virtual key the view is confined to; None for the master key
    key_id: str | None = None
    key_name: str | None = None
    form: FormData | None = None

    @property
    def admin(self) -> bool:
        return self.key_id is None


@functools.cache
def _templates() -> jinja2.Environment:
    import jinja2  # only once a page is rendered

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("lockgate.console", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["utc"] = _utc
    env.filters["usd"] = lambda v: f"${v:,.4f}"
    env.filters["pct"] = lambda v: f"{100 * v:.1f}%"
    env.filters["ms"] = lambda v: f"{v:.1f}" if v < 10 else f"{v:.0f}"
    return env


def _utc(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch))


#: pages are never cached (one shows a new key's secret) nor framed (clickjacking), and
#: run no script at all: the console has none
HEADERS = {
    "cache-control": "no-store",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "content-security-policy": (
        "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
}


def render(template: str, status: int = 200, /, **ctx: Any) -> HTMLResponse:
    html = _templates().get_template(template).render(**ctx)
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def secret(svc: Services) -> bytes | None:
    master = svc.settings.general_settings.master_key
    return session.secret_of(master.get_secret_value()) if master is not None else None


Handler = Callable[[Request, Console], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


def _to_login() -> Response:
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(session.COOKIE, path="/ui")
    return response


async def _open(request: Request) -> Console | None:
    svc = services(request)
    key = secret(svc)
    now = time.time()
    found = session.verify(key, request.cookies.get(session.COOKIE), now) if key else None
    if key is None or found is None or found.subject == session.LOGIN:
        return None
    name = None
    if found.key_id is not None:
        try:
            api_key = await svc.keys.get(found.key_id)
        except NotFoundError:
            return None
        if not api_key.active(now):
            return None
        name = api_key.name
    csrf = session.csrf_token(key, found.nonce)
    return Console(svc=svc, csrf=csrf, now=now, key_id=found.key_id, key_name=name)


def page(*, admin: bool = False) -> Callable[[Handler], Endpoint]:
    """A console page: a session required (the master key's when ``admin``); CSRF on POST."""

    def wrap(handler: Handler) -> Endpoint:
        @functools.wraps(handler)
        async def endpoint(request: Request) -> Response:
            console = await _open(request)
            if console is None:
                return _to_login()
            if admin and not console.admin:
                return render("error.html", 403, c=console, message="This page is for admins.")
            if request.method == "POST":
                form = await request.form(max_files=0, max_fields=50)
                if form.get("csrf") != console.csrf:
                    return render("error.html", 403, message="Missing or wrong CSRF token.")
                console = replace(console, form=form)
            return await handler(request, console)

        return endpoint

    return wrap
