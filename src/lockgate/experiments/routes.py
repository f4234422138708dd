"""Admin routes for experiments and rollouts (master key).

- ``POST /admin/experiments`` (an experiment spec), ``GET /admin/experiments``,
  ``GET /admin/experiments/{name}`` (the status report: per-variant metrics, intervals,
  SRM, decision), ``POST /admin/experiments/{name}/promote`` ``{"variant"?}``,
  ``POST /admin/experiments/{name}/stop``.
- ``POST /admin/rollouts`` (a rollout spec), ``GET /admin/rollouts``,
  ``GET /admin/rollouts/{name}``, ``POST /admin/rollouts/{name}/abort``.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lockgate.api.common import json_response, read_json, with_errors
from lockgate.errors import BadRequestError
from lockgate.experiments import actions
from lockgate.experiments.spec import ExperimentSpec, RolloutSpec, parse_model
from lockgate.prompts.routes import admin_context
from lockgate.services import Services
from lockgate.usage.sinks import find_usage_writer

__all__ = ["routes"]


async def _body(request: Request) -> Any:
    return await read_json(request, 256 * 1024)


async def _flush(svc: Services) -> None:
    writer = find_usage_writer(svc.sinks)
    if writer is not None:
        await writer.flush()


@with_errors("openai")
async def create_experiment(request: Request) -> Response:
    svc, _ = await admin_context(request)
    spec = parse_model(ExperimentSpec, await _body(request))
    p = svc.prompts
    await actions.create_experiment(p.prompts, p.experiments, spec)
    await p.registry.refresh()
    return json_response({"name": spec.name, "state": "running", "spec": spec.model_dump()}, 201)


@with_errors("openai")
async def list_experiments(request: Request) -> Response:
    svc, _ = await admin_context(request)
    rows = await svc.prompts.experiments.experiments()
    return json_response(
        {
            "data": [
                {"name": r["name"], "state": r["state"], "spec": r["spec"].model_dump()}
                for r in rows
            ]
        }
    )


@with_errors("openai")
async def experiment_status(request: Request) -> Response:
    svc, _ = await admin_context(request)
    await _flush(svc)
    row, report = await actions.experiment_report(
        svc.prompts.experiments, request.path_params["name"]
    )
    return json_response({**report.to_json(), "state": row["state"], "ended": row["decision"]})


@with_errors("openai")
async def promote(request: Request) -> Response:
    svc, actor = await admin_context(request)
    body = await _body(request) if request.headers.get("content-length") not in (None, "0") else {}
    variant = body.get("variant") if isinstance(body, dict) else None
    if variant is not None and not isinstance(variant, str):
        raise BadRequestError("'variant' must be a string.", param="variant")
    await _flush(svc)
    p = svc.prompts
    decision = await actions.promote(
        p.prompts, p.experiments, p.events, request.path_params["name"], variant, actor
    )
    await p.registry.refresh()
    return json_response(decision)


@with_errors("openai")
async def stop(request: Request) -> Response:
    svc, actor = await admin_context(request)
    p = svc.prompts
    name = request.path_params["name"]
    row = await p.experiments.experiment(name)
    if row["state"] != "running":
        raise BadRequestError(f"Experiment {name!r} is {row['state']}.")
    await p.experiments.end_experiment(name, "stopped", {"by": actor})
    await p.registry.refresh()
    return json_response({"name": name, "state": "stopped"})


def _rollout_json(spec: RolloutSpec, state: Any) -> dict[str, Any]:
    return {
        "name": spec.name,
        "spec": spec.model_dump(),
        "weight": state.weight(spec),
        **state.to_json(),
    }


@with_errors("openai")
async def start_rollout(request: Request) -> Response:
    svc, actor = await admin_context(request)
    spec = parse_model(RolloutSpec, await _body(request))
    p = svc.prompts
    state = await actions.start_rollout(p.prompts, p.experiments, p.events, spec, actor)
    await p.registry.refresh()
    return json_response(_rollout_json(spec, state), 201)


@with_errors("openai")
async def list_rollouts(request: Request) -> Response:
    svc, _ = await admin_context(request)
    rows = await svc.prompts.experiments.rollouts()
    return json_response({"data": [_rollout_json(s, st) for s, st in rows]})


@with_errors("openai")
async def show_rollout(request: Request) -> Response:
    svc, _ = await admin_context(request)
    spec, state = await svc.prompts.experiments.rollout(request.path_params["name"])
    return json_response(_rollout_json(spec, state))


@with_errors("openai")
async def abort_rollout(request: Request) -> Response:
    svc, actor = await admin_context(request)
    p = svc.prompts
    name = request.path_params["name"]
    state = await actions.abort_rollout(p.experiments, p.events, name, actor)
    await p.registry.refresh()
    spec, _ = await p.experiments.rollout(name)
    return json_response(_rollout_json(spec, state))


routes = [
    Route("/admin/experiments", create_experiment, methods=["POST"]),
    Route("/admin/experiments", list_experiments, methods=["GET"]),
    Route("/admin/experiments/{name}/promote", promote, methods=["POST"]),
    Route("/admin/experiments/{name}/stop", stop, methods=["POST"]),
    Route("/admin/experiments/{name}", experiment_status, methods=["GET"]),
    Route("/admin/rollouts", start_rollout, methods=["POST"]),
    Route("/admin/rollouts", list_rollouts, methods=["GET"]),
    Route("/admin/rollouts/{name}/abort", abort_rollout, methods=["POST"]),
    Route("/admin/rollouts/{name}", show_rollout, methods=["GET"]),
]
