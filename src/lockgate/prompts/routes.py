"""HTTP routes of the prompt registry.

- ``POST /v1/prompts/{name}/render`` ``{"label"|"version", "variables"}``: the filled
  messages (any valid key).
- ``POST /admin/prompts`` (a prompt file's fields as JSON): push a new version.
- ``GET /admin/prompts``, ``GET /admin/prompts/{name}`` (versions, labels, label history),
  ``GET /admin/prompts/{name}/versions/{version}``.
- ``POST /admin/prompts/{name}/labels`` ``{"label", "version"}``: move a label.
- ``POST /admin/prompts/{name}/rollback`` ``{"label"}``: back to the label's previous version.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lockgate.api.common import json_response, read_json, with_errors
from lockgate.api.flow import start_context
from lockgate.errors import BadRequestError, NotFoundError, PermissionDeniedError
from lockgate.experiments.actions import move_label
from lockgate.prompts.spec import LABEL_PATTERN, parse_spec
from lockgate.prompts.stage import ContextUnits, parse_prompt_field
from lockgate.services import Services, services

__all__ = ["admin_context", "routes"]

_BODY_LIMIT = 1024 * 1024


async def admin_context(request: Request) -> tuple[Services, str | None]:
    """The services and the acting principal's name; 403 without the master key."""
    svc = services(request)
    ctx = await start_context(request, svc, "openai")
    if not (ctx.principal.is_admin or svc.auth.open_mode):
        raise PermissionDeniedError("The admin API needs the master key.", code="admin_only")
    return svc, ctx.principal.name or ctx.principal.kind


async def _object(request: Request) -> dict[str, Any]:
    body = await read_json(request, _BODY_LIMIT)
    if not isinstance(body, dict):
        raise BadRequestError("Request body must be a JSON object.")
    return body


@with_errors("openai")
async def render(request: Request) -> Response:
    svc = services(request)
    ctx = await start_context(request, svc, "openai")
    body = await _object(request)
    name, label, version, variables = parse_prompt_field(
        {**body, "name": request.path_params["name"]}
    )
    res = await svc.prompts.registry.resolve(
        name, label=label, version=version, units=ContextUnits(ctx)
    )
    out = {
        "prompt": res.ref,
        "name": res.prompt.version.name,
        "version": res.prompt.version.version,
        "label": res.label,
        "model": res.model,
        "messages": res.render(variables),
        **res.prompt.defaults,
    }
    if res.experiment is not None:
        out["experiment"] = {"name": res.experiment, "variant": res.variant}
    return json_response(
        out, headers={"x-lockgate-prompt": res.ref, "x-request-id": ctx.request_id}
    )


@with_errors("openai")
async def push(request: Request) -> Response:
    svc, actor = await admin_context(request)
    spec = parse_spec(await _object(request))
    p = svc.prompts
    before = await p.prompts.labels(spec.name)
    version, created = await p.prompts.push(spec, actor)
    for label in spec.labels:
        old = before.get((spec.name, label))
        if old != version.version:
            p.events.emit(
                "prompt.label",
                spec.name,
                {"label": label, "from_version": old, "to_version": version.version},
                actor,
            )
    await p.registry.refresh()
    return json_response({**version.to_json(), "created": created}, 201 if created else 200)


@with_errors("openai")
async def list_prompts(request: Request) -> Response:
    svc, _ = await admin_context(request)
    return json_response({"data": await svc.prompts.prompts.names()})


@with_errors("openai")
async def show(request: Request) -> Response:
    svc, _ = await admin_context(request)
    name = request.path_params["name"]
    repo = svc.prompts.prompts
    versions = await repo.versions(name)
    if not versions:
        raise NotFoundError(f"No prompt {name!r}.")
    labels = await repo.labels(name)
    return json_response(
        {
            "name": name,
            "versions": [v.to_json() for v in versions],
            "labels": {lb: v for (_, lb), v in labels.items()},
            "history": await repo.history(name),
        }
    )


@with_errors("openai")
async def show_version(request: Request) -> Response:
    svc, _ = await admin_context(request)
    name = request.path_params["name"]
    try:
        number = int(request.path_params["version"])
    except ValueError:
        raise BadRequestError("The version must be a number.", param="version") from None
    stored = await svc.prompts.prompts.get(name, number)
    if stored is None:
        raise NotFoundError(f"Prompt {name!r} has no version {number}.")
    return json_response(stored.to_json())


def _label(body: dict[str, Any]) -> str:
    import re

    label = body.get("label")
    if not isinstance(label, str) or not re.match(LABEL_PATTERN, label):
        raise BadRequestError(f"'label' must match {LABEL_PATTERN}.", param="label")
    return label


@with_errors("openai")
async def set_label(request: Request) -> Response:
    svc, actor = await admin_context(request)
    body = await _object(request)
    label = _label(body)
    version = body.get("version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise BadRequestError("'version' must be an integer.", param="version")
    reason = body.get("reason") if isinstance(body.get("reason"), str) else None
    p = svc.prompts
    name = request.path_params["name"]
    old, new = await move_label(p.prompts, p.events, name, label, version, actor, reason)
    await p.registry.refresh()
    return json_response({"name": name, "label": label, "from_version": old, "to_version": new})


@with_errors("openai")
async def rollback(request: Request) -> Response:
    svc, actor = await admin_context(request)
    label = _label(await _object(request))
    p = svc.prompts
    name = request.path_params["name"]
    moves = await p.prompts.history(name, label)
    if not moves or moves[-1]["from_version"] is None:
        raise BadRequestError(f"Label {name}@{label} has no earlier version to go back to.")
    back = int(moves[-1]["from_version"])
    old, new = await move_label(p.prompts, p.events, name, label, back, actor, "rollback")
    await p.registry.refresh()
    return json_response({"name": name, "label": label, "from_version": old, "to_version": new})


routes = [
    Route("/v1/prompts/{name:path}/render", render, methods=["POST"]),
    Route("/admin/prompts", push, methods=["POST"]),
    Route("/admin/prompts", list_prompts, methods=["GET"]),
    Route("/admin/prompts/{name:path}/versions/{version}", show_version, methods=["GET"]),
    Route("/admin/prompts/{name:path}/labels", set_label, methods=["POST"]),
    Route("/admin/prompts/{name:path}/rollback", rollback, methods=["POST"]),
    Route("/admin/prompts/{name:path}", show, methods=["GET"]),
]
