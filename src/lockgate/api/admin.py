"""Admin API for virtual keys: /admin/keys (master key only)."""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lockgate.api.common import json_response, read_json, with_errors
from lockgate.api.flow import admin_services
from lockgate.auth.changes import announce_key_change
from lockgate.errors import BadRequestError
from lockgate.limits.rules import rules_from_spec
from lockgate.services import Services, services

__all__ = ["routes"]


async def _admin(request: Request) -> Services:
    return await admin_services(request, services(request))


def _optional(body: dict[str, Any], name: str, kind: type) -> Any:
    value = body.get(name)
    if value is not None and not isinstance(value, kind):
        raise BadRequestError(f"'{name}' must be of type {kind.__name__}.", param=name)
    return value


@with_errors("openai")
async def create_key(request: Request) -> Response:
    svc = await _admin(request)
    body = await read_json(request, 64 * 1024)
    if not isinstance(body, dict):
        raise BadRequestError("Request body must be a JSON object.")
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise BadRequestError("'name' is required.", param="name")
    models = _optional(body, "models", list)
    if models is not None and not all(isinstance(m, str) for m in models):
        raise BadRequestError("'models' must be a list of model names.", param="models")
    expires_at = _optional(body, "expires_at", (int, float))  # type: ignore[arg-type]
    duration = _optional(body, "duration_seconds", (int, float))  # type: ignore[arg-type]
    if duration is not None:
        expires_at = time.time() + float(duration)
    limits = _optional(body, "limits", dict)
    if limits:
        try:
            rules_from_spec("key", limits)
        except ValueError as exc:
            raise BadRequestError(f"'limits': {exc}", param="limits") from None
    secret, key = await svc.keys.create(
        name.strip(),
        models=models,
        team=_optional(body, "team", str),
        metadata=_optional(body, "metadata", dict),
        limits=limits,
        expires_at=expires_at,
    )
    return json_response({"key": secret, **key.public()}, 201)


@with_errors("openai")
async def list_keys(request: Request) -> Response:
    svc = await _admin(request)
    include = request.query_params.get("include_revoked") in ("1", "true")
    keys = await svc.keys.list(include_revoked=include)
    return json_response({"object": "list", "data": [k.public() for k in keys]})


@with_errors("openai")
async def get_key(request: Request) -> Response:
    svc = await _admin(request)
    key = await svc.keys.get(request.path_params["key_id"])
    return json_response(key.public())


@with_errors("openai")
async def revoke_key(request: Request) -> Response:
    svc = await _admin(request)
    key = await svc.keys.revoke(request.path_params["key_id"])
    svc.auth.forget()
    await announce_key_change(svc.settings.general_settings.redis_url)
    return json_response(key.public())


@with_errors("openai")
async def rotate_key(request: Request) -> Response:
    svc = await _admin(request)
    secret, key = await svc.keys.rotate(request.path_params["key_id"])
    svc.auth.forget()
    await announce_key_change(svc.settings.general_settings.redis_url)
    return json_response({"key": secret, **key.public()})


routes = [
    Route("/admin/keys", create_key, methods=["POST"]),
    Route("/admin/keys", list_keys, methods=["GET"]),
    Route("/admin/keys/{key_id}", get_key, methods=["GET"]),
    Route("/admin/keys/{key_id}", revoke_key, methods=["DELETE"]),
    Route("/admin/keys/{key_id}/rotate", rotate_key, methods=["POST"]),
]
