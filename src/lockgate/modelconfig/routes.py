"""``/admin/models`` (master key only): the deployments served, and the ones stored in the
database beside the config file's.

* ``GET /admin/models``: every deployment served by this replica (``source`` ``file`` or
  ``api``), secrets left out.
* ``POST /admin/models`` ``{"model_name", "params", "model_info"?}``: a new deployment,
  validated as a config file entry (``os.environ/NAME`` references resolve on each
  replica); 201 with its id.
* ``PATCH /admin/models/{id}``: change a stored entry (``params`` keys merge into the old
  ones; ``model_name``/``model_info`` replace).
* ``DELETE /admin/models/{id}``: stop serving a stored entry.

Entries of the config file answer 409: edit the file and send ``SIGHUP``.  Every replica
serves a change within ``live_models.sync_seconds`` (at once with Redis).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lockgate.api.common import json_response, read_json, with_errors
from lockgate.api.flow import admin_services
from lockgate.errors import BadRequestError, ConflictError
from lockgate.services import Services, services
from lockgate.settings import ConfigError, Deployment, ModelEntry

__all__ = ["routes"]

_BODY_LIMIT = 64 * 1024


async def _admin(request: Request) -> Services:
    return await admin_services(request, services(request))


def _public(dep: Deployment, source: str) -> dict[str, Any]:
    p = dep.params
    return {
        "id": dep.id,
        "model_name": dep.alias,
        "source": source,
        "model": p.model,
        "api_base": p.api_base,
        "weight": p.weight,
        "has_api_key": p.api_key is not None,
    }


def _parse(svc: Services, raw: object) -> ModelEntry:
    try:
        return svc.models.parse(raw)
    except ConfigError as exc:
        raise BadRequestError(" ".join(str(exc).split())) from None


def _stored_only(rid: str) -> None:
    if "#" in rid:
        raise ConflictError(
            f"'{rid}' is defined in the config file: edit the file and send the gateway"
            " SIGHUP (or restart it) to change it.",
            code="model_in_config_file",
        )


@with_errors("openai")
async def list_models(request: Request) -> Response:
    svc = await _admin(request)
    stored = {row.id for row in await svc.models.repo.list()}
    data = [
        _public(d, "api" if d.id in stored else "file") for d in svc.dispatcher.router.deployments
    ]
    return json_response({"object": "list", "data": data})


@with_errors("openai")
async def add_model(request: Request) -> Response:
    svc = await _admin(request)
    raw = await read_json(request, _BODY_LIMIT)
    entry = _parse(svc, raw)
    rid = await svc.models.repo.add(entry.model_name, raw)
    await svc.models.announce()
    return json_response({"id": rid, "model_name": entry.model_name, "source": "api"}, 201)


@with_errors("openai")
async def change_model(request: Request) -> Response:
    svc = await _admin(request)
    rid = request.path_params["model_id"]
    _stored_only(rid)
    patch = await read_json(request, _BODY_LIMIT)
    if not isinstance(patch, dict):
        raise BadRequestError("Request body must be a JSON object.")
    old = dict((await svc.models.repo.get(rid)).raw)
    raw = {**old, **{k: v for k, v in patch.items() if k != "params"}}
    if "params" in patch or "litellm_params" in patch:
        given = patch.get("params", patch.get("litellm_params"))
        if not isinstance(given, dict):
            raise BadRequestError("'params' must be an object.", param="params")
        base = old.pop("params", None) or old.pop("litellm_params", None) or {}
        raw.pop("litellm_params", None)
        raw["params"] = {**base, **given}
    entry = _parse(svc, raw)
    await svc.models.repo.replace(rid, entry.model_name, raw)
    await svc.models.announce()
    return json_response({"id": rid, "model_name": entry.model_name, "source": "api"})


@with_errors("openai")
async def remove_model(request: Request) -> Response:
    svc = await _admin(request)
    rid = request.path_params["model_id"]
    _stored_only(rid)
    await svc.models.repo.remove(rid)
    await svc.models.announce()
    return json_response({"id": rid, "deleted": True})


routes = [
    Route("/admin/models", list_models, methods=["GET"]),
    Route("/admin/models", add_model, methods=["POST"]),
    Route("/admin/models/{model_id}", change_model, methods=["PATCH"]),
    Route("/admin/models/{model_id}", remove_model, methods=["DELETE"]),
]
