"""``GET /admin/evals/online?model=...``: online judge scores per model and prompt version
(master key), the judge-score counterpart of ``/admin/feedback``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lockgate.api.common import json_response, with_errors
from lockgate.api.flow import start_context
from lockgate.errors import PermissionDeniedError
from lockgate.evals.online import OnlineEvaluator
from lockgate.services import services

__all__ = ["routes"]


@with_errors("openai")
async def online_scores(request: Request) -> Response:
    """Mean judge score (95% CI), pass rate and count per model and prompt version."""
    svc = services(request)
    ctx = await start_context(request, svc, "openai")
    if not (ctx.principal.is_admin or svc.auth.open_mode):
        raise PermissionDeniedError("The admin API needs the master key.", code="admin_only")
    evaluator = next((s for s in svc.sinks if isinstance(s, OnlineEvaluator)), None)
    from lockgate.evals.online_repository import OnlineScoreRepository  # SQLAlchemy: on use

    summaries = await OnlineScoreRepository(svc.db).summary(
        request.query_params.get("model") or None
    )
    stats = None
    if evaluator is not None:
        st = evaluator.stats
        stats = {
            "sampled": st.sampled,
            "scored": st.scored,
            "dropped_queue_full": st.dropped_queue_full,
            "skipped_budget": st.skipped_budget,
            "errors": st.errors,
            "queued": evaluator.pending,
        }
    return json_response({"data": [s.to_json() for s in summaries], "sampler": stats})


routes = [Route("/admin/evals/online", online_scores, methods=["GET"])]
