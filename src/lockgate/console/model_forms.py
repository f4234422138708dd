"""Models page editing: add, change and remove the deployments stored beside the config
file's (``model_entries``, the live model config of ``/admin/models``).

Admins only, CSRF on every POST (view.page).  An entry is validated exactly as the admin
API validates it (``LiveModels.parse``: the config file's pydantic models, reserved
aliases refused); a change reaches every replica as an admin API change does
(``LiveModels.announce``).  Entries of the config file are shown read-only: changing
one answers 409 (edit the file and send SIGHUP).  Secret parameters are never put in a
page: a blank API key field keeps the stored one.

:func:`entry_from_form` and :func:`form_of` are the pure halves (form <-> stored entry).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from lockgate.console.models_page import models_view
from lockgate.console.view import Console, page
from lockgate.errors import GatewayError
from lockgate.settings import ConfigError

__all__ = ["SECRET_PARAMS", "entry_from_form", "form_of", "routes"]

#: parameters whose value never goes into a page
SECRET_PARAMS = frozenset(
    {
        "api_key",
        "azure_ad_token",
        "aws_secret_access_key",
        "aws_session_token",
        "vertex_credentials",
    }
)
#: parameters with a field of their own (the rest go through the JSON field)
_OWN = ("model", "api_base", "api_key", "weight")
_ENV = "os.environ/"


def _params(raw: Mapping[str, Any]) -> dict[str, Any]:
    given = raw.get("params") or raw.get("litellm_params") or {}
    return dict(given) if isinstance(given, Mapping) else {}


def entry_from_form(
    form: Mapping[str, str], old: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The entry to store from the form's fields, on top of ``old`` (a change).

    Blank ``api_base``/``weight`` drop the parameter; a blank ``api_key`` keeps the stored
    one; ``extra`` is a JSON object of further parameters (a ``null`` value drops one).
    Raises ConfigError for a malformed field (the entry itself is validated later).
    """
    raw = {k: v for k, v in (old or {}).items() if k not in ("params", "litellm_params")}
    params = _params(old or {})
    raw["model_name"] = form.get("model_name", "").strip()
    model = form.get("model", "").strip()
    if model:
        params["model"] = model
    for name in ("api_base", "weight"):
        value = form.get(name, "").strip()
        if not value:
            params.pop(name, None)
        elif name == "weight":
            try:
                params[name] = float(value)
            except ValueError:
                raise ConfigError(f"weight must be a number, not {value!r}") from None
        else:
            params[name] = value
    key = form.get("api_key", "").strip()
    if key:
        params["api_key"] = key
    extra_text = form.get("extra", "").strip()
    if extra_text:
        try:
            extra = json.loads(extra_text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"more parameters: not valid JSON ({exc.msg})") from None
        if not isinstance(extra, dict):
            raise ConfigError("more parameters must be a JSON object")
        for name, value in extra.items():
            if value is None:
                params.pop(name, None)
            else:
                params[name] = value
    raw["params"] = params
    return raw


def form_of(raw: Mapping[str, Any]) -> dict[str, str]:
    """The edit form's fields for a stored entry (no secret's value)."""
    params = _params(raw)
    key = params.get("api_key")
    extra = {k: v for k, v in params.items() if k not in _OWN and k not in SECRET_PARAMS}
    return {
        "model_name": str(raw.get("model_name", "")),
        "model": str(params.get("model", "")),
        "api_base": str(params.get("api_base") or ""),
        "weight": "" if params.get("weight") is None else str(params["weight"]),
        "api_key_hint": (
            key if isinstance(key, str) and key.startswith(_ENV) else "(stored)" if key else ""
        ),
        "secrets": ", ".join(sorted(k for k in params if k in SECRET_PARAMS)),
        "extra": json.dumps(extra, indent=1) if extra else "",
    }


def _fields(console: Console) -> dict[str, str]:
    form = console.form
    names = ("model_name", "model", "api_base", "api_key", "weight", "extra")
    out = {}
    for name in names:
        value = form.get(name) if form is not None else None
        out[name] = value[:4000] if isinstance(value, str) else ""
    return out


def _done(what: str, rid: str) -> Response:
    return RedirectResponse(f"/ui/models?{urlencode({what: rid})}#stored", status_code=303)


def _file_entry(rid: str) -> str | None:
    if "#" in rid:
        return (
            f"{rid} is defined in the config file: edit the file and send the gateway"
            " SIGHUP (or restart it) to change it."
        )
    return None


async def _save(console: Console, rid: str | None) -> Response:
    svc = console.svc
    fields = _fields(console)
    try:
        old = dict((await svc.models.repo.get(rid)).raw) if rid is not None else None
        raw = entry_from_form(fields, old)
        entry = svc.models.parse(raw)
    except ConfigError as exc:
        edit = {**fields, "id": rid, "api_key_hint": "", "secrets": ""}
        return await models_view(console, 400, error=" ".join(str(exc).split()), edit=edit)
    except GatewayError as exc:
        return await models_view(console, exc.status, error=exc.message)
    if rid is None:
        rid = await svc.models.repo.add(entry.model_name, raw)
        await svc.models.announce()
        return _done("added", rid)
    await svc.models.repo.replace(rid, entry.model_name, raw)
    await svc.models.announce()
    return _done("changed", rid)


@page(admin=True)
async def add(request: Request, console: Console) -> Response:
    return await _save(console, None)


@page(admin=True)
async def change(request: Request, console: Console) -> Response:
    rid = request.path_params["model_id"]
    if (refused := _file_entry(rid)) is not None:
        return await models_view(console, 409, error=refused)
    return await _save(console, rid)


@page(admin=True)
async def edit(request: Request, console: Console) -> Response:
    rid = request.path_params["model_id"]
    if (refused := _file_entry(rid)) is not None:
        return await models_view(console, 409, error=refused)
    try:
        stored = await console.svc.models.repo.get(rid)
    except GatewayError as exc:
        return await models_view(console, exc.status, error=exc.message)
    return await models_view(console, edit={**form_of(stored.raw), "id": rid})


@page(admin=True)
async def remove(request: Request, console: Console) -> Response:
    rid = request.path_params["model_id"]
    if (refused := _file_entry(rid)) is not None:
        return await models_view(console, 409, error=refused)
    try:
        await console.svc.models.repo.remove(rid)
    except GatewayError as exc:
        return await models_view(console, exc.status, error=exc.message)
    await console.svc.models.announce()
    return _done("removed", rid)


routes = [
    Route("/ui/models", add, methods=["POST"]),
    Route("/ui/models/{model_id}/edit", edit, methods=["GET"]),
    Route("/ui/models/{model_id}", change, methods=["POST"]),
    Route("/ui/models/{model_id}/remove", remove, methods=["POST"]),
]
