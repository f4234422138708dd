"""Models (deployments, breaker state, latency and error rate) and Cache and guardrails.

Latency, error and hit rates over 24 hours come from the hourly rollup; breaker states,
cache savings, the semantic cache's false-hit estimate and guard verdict counts are this
process's live state since it started (the dispatcher's snapshot, the stats, the semantic
stage's live estimator, the Prometheus counters).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lockgate.console.queries import by_model, percentiles
from lockgate.console.view import Console, page, render

__all__ = ["routes"]


def _since(console: Console) -> int:
    return int(console.now // 3600) * 3600 - 23 * 3600


async def _last_day(console: Console) -> dict[str, Any]:
    return {r.label: r for r in await by_model(console.svc.db.engine, _since(console))}


def deployments(console: Console) -> list[dict[str, Any]]:
    """Every served deployment with its alias, provider, upstream model and live breaker
    state (this process's dispatcher; a deployment not yet called is ``closed``)."""
    svc = console.svc
    snapshot = svc.dispatcher.snapshot()
    breakers: dict[str, Any] = snapshot.get("breakers", {})  # type: ignore[assignment]
    router = svc.dispatcher.router
    rows = []
    for alias in router.aliases:
        for dep in router.resolve(alias):
            breaker = breakers.get(dep.id) or {}
            rows.append(
                {
                    "alias": alias,
                    "id": dep.id,
                    "provider": dep.provider,
                    "upstream": dep.params.model,
                    "api_base": dep.params.api_base,
                    "weight": dep.params.weight,
                    "state": breaker.get("state", "closed"),
                }
            )
    return rows


@page(admin=True)
async def models(request: Request, console: Console) -> Response:
    q = request.query_params
    done = [f"{what} {q[what]}" for what in ("added", "changed", "removed") if q.get(what)]
    return await models_view(console, notice="; ".join(done) or None)


async def models_view(console: Console, status: int = 200, **ctx: Any) -> Response:
    """The models page (``ctx``: ``error``, ``notice``, ``edit``: a stored entry's form)."""
    usage = await _last_day(console)
    pcts = await percentiles(console.svc.db.engine, _since(console))
    stored = {row.id: row.raw for row in await console.svc.models.repo.list()}
    rows = [
        {**d, "usage": usage.get(d["alias"]), "stored": d["id"] in stored}
        for d in deployments(console)
    ]
    ctx.setdefault("error", None)
    ctx.setdefault("notice", None)
    blank: dict[str, str | None] = dict.fromkeys(
        ("model_name", "model", "api_base", "weight", "extra", "api_key_hint", "secrets"), ""
    )
    blank["id"] = None
    ctx["f"] = {**blank, **(ctx.pop("edit", None) or {})}
    return render("models.html", status, c=console, nav="models", rows=rows, pcts=pcts, **ctx)


def _verdicts(console: Console) -> list[tuple[str, str, float]]:
    out = []
    for family in console.svc.metrics.guard_verdicts.collect():
        for s in family.samples:
            if s.name.endswith("_total"):
                out.append((s.labels["guard"], s.labels["verdict"], s.value))
    return sorted(out)


def _false_hits(console: Console) -> list[tuple[str, Any]]:
    """The live semantic false-hit estimate per alias (verified hits only; empty if off)."""
    stage = console.svc.semantic
    live = stage.live if stage is not None else None
    if live is None:
        return []
    return [(alias, est) for alias in live.aliases() if (est := live.estimate(alias)) is not None]


@page(admin=True)
async def cache(request: Request, console: Console) -> Response:
    stats = console.svc.stats.snapshot()
    return render(
        "cache.html",
        c=console,
        nav="cache",
        rows=sorted((await _last_day(console)).values(), key=lambda r: r.label),
        saved=stats["cache_saved_usd"],
        live_hits=stats["cache_hits"],
        live_rate=stats["cache_hit_rate"],
        verdicts=_verdicts(console),
        false_hits=_false_hits(console),
    )


routes = [
    Route("/ui/models", models, methods=["GET"]),
    Route("/ui/cache", cache, methods=["GET"]),
]
