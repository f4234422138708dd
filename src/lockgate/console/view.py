"""What every console page shares: the session check, CSRF on POST, and rendering.

:func:`page` wraps a handler ``(request, console) -> Response``: without a genuine,
unexpired session cookie the browser is sent to the login page; a POST whose form lacks
the session's CSRF token is refused with 403 before the handler runs.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from lockgate.console import session
from lockgate.services import Services, services

if TYPE_CHECKING:
    import jinja2

__all__ = ["Console", "page", "render", "secret"]


@dataclass(frozen=True, slots=True)
class Console:
    """A logged-in page view: the services, the CSRF token, the clock's reading, the form."""

    svc: Services
    csrf: str
    now: float
    form: FormData | None = None


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
    return env


def _utc(epoch: float, seconds: bool = True) -> str:
    fmt = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d"
    return time.strftime(fmt, time.gmtime(epoch))


def render(name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
    return HTMLResponse(_templates().get_template(name).render(**ctx), status_code=status)


def secret(svc: Services) -> bytes | None:
    master = svc.settings.general_settings.master_key
    return session.secret_of(master.get_secret_value()) if master is not None else None


Handler = Callable[[Request, Console], Awaitable[Response]]


def page(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """A console page: session required; a POST needs the session's CSRF token."""

    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        svc = services(request)
        key = secret(svc)
        now = time.time()
        nonce = session.verify(key, request.cookies.get(session.COOKIE), now) if key else None
        if key is None or nonce is None:
            return RedirectResponse("/ui/login", status_code=303)
        csrf = session.csrf_token(key, nonce)
        form = None
        if request.method == "POST":
            form = await request.form(max_files=0, max_fields=50)
            if form.get("csrf") != csrf:
                return render("error.html", 403, message="Missing or wrong CSRF token.")
        return await handler(request, Console(svc=svc, csrf=csrf, now=now, form=form))

    return endpoint
