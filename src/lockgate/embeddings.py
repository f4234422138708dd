"""One embeddings call through the gateway: validated, allowed for the caller's key, and
sent by the dispatcher (breakers, retries, fallbacks) through the micro-batcher.

Used by ``/v1/embeddings`` and by batch lines alike.
"""

from __future__ import annotations

from typing import Any

from lockgate.context import RequestContext
from lockgate.dispatcher import send_embed
from lockgate.errors import BadRequestError
from lockgate.services import Services

__all__ = ["check_embeddings_body", "run_embeddings"]


def check_embeddings_body(body: object) -> dict[str, Any]:
    if not isinstance(body, dict) or not isinstance(body.get("model"), str):
        raise BadRequestError("'model' is required.", param="model")
    inputs = body.get("input")
    if not (isinstance(inputs, str) and inputs) and not (isinstance(inputs, list) and inputs):
        raise BadRequestError("'input' must be a non-empty string or array.", param="input")
    return body


async def run_embeddings(
    svc: Services, ctx: RequestContext, body: dict[str, Any]
) -> dict[str, Any]:
    alias = body["model"]
    svc.router.resolve(alias)
    ctx.principal.check_model(alias)
    if svc.embedder is not None:
        return await svc.dispatcher.embed(ctx, body, svc.embedder.embed)
    return await svc.dispatcher.embed(ctx, body, send_embed)
