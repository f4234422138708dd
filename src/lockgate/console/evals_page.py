"""Evaluation reports: suite runs kept by ``lockgate eval run|compare --store``.

The list shows each run's per-target pass rate with its Wilson 95 % interval and n, and
a comparison's verdict; a run's page adds the comparison's intervals (pass-rate and
score deltas, win rate, McNemar) and every case per target across its repeats (pass
rate with its interval, mean score, the first failing reason).  Admins only.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lockgate.console.view import Console, page, render
from lockgate.errors import NotFoundError

__all__ = ["routes"]


@page(admin=True)
async def runs(request: Request, console: Console) -> Response:
    from lockgate.evals.run_repository import EvalRunRepository

    stored = await EvalRunRepository(console.svc.db).recent()
    return render("evals.html", c=console, nav="evals", runs=stored)


@page(admin=True)
async def run(request: Request, console: Console) -> Response:
    from lockgate.evals.run_repository import EvalRunRepository
    from lockgate.evals.summary import case_summaries

    rid = request.path_params["run_id"]
    try:
        stored = await EvalRunRepository(console.svc.db).get(rid)
    except NotFoundError as exc:
        return render("error.html", 404, c=console, message=exc.message)
    report = stored.report or {}
    results = [r for r in report.get("results") or [] if isinstance(r, dict)]
    # worst first within a target; a case that only errored (no pass rate) first of all
    cases = sorted(
        case_summaries(results),
        key=lambda s: (s.target, s.pass_rate.estimate if s.pass_rate.n else -1.0),
    )
    return render(
        "eval_run.html",
        c=console,
        nav="evals",
        run=stored,
        report=report,
        cases=cases,
        comparison=report.get("comparison"),
    )


routes = [
    Route("/ui/evals", runs, methods=["GET"]),
    Route("/ui/evals/{run_id}", run, methods=["GET"]),
]
