"""Prompts, experiments, rollouts and evaluations: versions with diffs and label history,
experiment tables with their confidence sequences, rollout progress, online judge scores
per model and prompt version (read-only; the admin API and the CLI change them)."""

from __future__ import annotations

import difflib
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lockgate.console.view import Console, page, render
from lockgate.errors import NotFoundError

__all__ = ["diff", "routes"]


def diff(old: dict[str, Any] | None, new: dict[str, Any]) -> list[str]:
    """A unified diff of two versions' contents (pretty JSON, sorted keys)."""

    def lines(content: dict[str, Any] | None) -> list[str]:
        if content is None:
            return []
        return json.dumps(content, indent=2, sort_keys=True, ensure_ascii=False).splitlines()

    return list(difflib.unified_diff(lines(old), lines(new), "before", "after", lineterm=""))[2:]


@page(admin=True)
async def prompts(request: Request, console: Console) -> Response:
    from lockgate.evals.online_repository import OnlineScoreRepository

    service = console.svc.prompts
    rollouts = [
        {"spec": spec, "state": state, "weight": state.weight(spec)}
        for spec, state in await service.experiments.rollouts()
    ]
    return render(
        "prompts.html",
        c=console,
        nav="prompts",
        prompts=await service.prompts.names(),
        experiments=await service.experiments.experiments(),
        rollouts=rollouts,
        evals=await OnlineScoreRepository(console.svc.db).summary(),
    )


@page(admin=True)
async def prompt(request: Request, console: Console) -> Response:
    name = request.path_params["name"]
    repo = console.svc.prompts.prompts
    versions = await repo.versions(name)
    if not versions:
        return render("error.html", 404, c=console, message=f"No prompt {name!r}.")
    shown = []
    previous = None
    for v in versions:
        shown.append({"v": v, "diff": diff(previous, v.content)})
        previous = v.content
    return render(
        "prompt.html",
        c=console,
        nav="prompts",
        name=name,
        versions=list(reversed(shown)),
        labels=sorted((lb, v) for (_, lb), v in (await repo.labels(name)).items()),
        history=await repo.history(name),
    )


@page(admin=True)
async def experiment(request: Request, console: Console) -> Response:
    from lockgate.experiments.actions import experiment_report

    try:
        row, report = await experiment_report(
            console.svc.prompts.experiments, request.path_params["name"]
        )
    except NotFoundError as exc:
        return render("error.html", 404, c=console, message=exc.message)
    return render(
        "experiment.html",
        c=console,
        nav="prompts",
        row=row,
        report=report.to_json(),
    )


routes = [
    Route("/ui/prompts", prompts, methods=["GET"]),
    Route("/ui/prompts/{name}", prompt, methods=["GET"]),
    Route("/ui/experiments/{name}", experiment, methods=["GET"]),
]
