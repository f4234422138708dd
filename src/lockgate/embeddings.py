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


#: OpenAI's own bounds: 2,048 inputs per call; token ids are non-negative 32-bit integers
MAX_INPUTS = 2048
MAX_DIMENSIONS = 65_536
_FORMATS = ("float", "base64")


def check_embeddings_body(body: object) -> dict[str, Any]:
    """The body, if OpenAI would accept its shape; a 400 naming the field otherwise.

    Checked in full here, not left to the upstream: the micro-batcher merges callers'
    inputs into one upstream call, so one caller's bad item would fail every caller in
    that batch, and an upstream that answers a bad body with a 5xx would count it against
    the deployment's breaker for every tenant.
    """
    if not isinstance(body, dict) or not isinstance(body.get("model"), str):
        raise BadRequestError("'model' is required.", param="model")
    _check_input(body.get("input"))
    fmt = body.get("encoding_format")
    if fmt is not None and fmt not in _FORMATS:
        raise BadRequestError(
            f"'encoding_format' must be one of {list(_FORMATS)}.", param="encoding_format"
        )
    dims = body.get("dimensions")
    if dims is not None and not (
        isinstance(dims, int) and not isinstance(dims, bool) and 1 <= dims <= MAX_DIMENSIONS
    ):
        raise BadRequestError(
            f"'dimensions' must be an integer from 1 to {MAX_DIMENSIONS}.", param="dimensions"
        )
    if body.get("user") is not None and not isinstance(body["user"], str):
        raise BadRequestError("'user' must be a string.", param="user")
    return body


def _token_ids(value: object) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(type(t) is int and 0 <= t < 2**32 for t in value)
    )


def _check_input(inputs: object) -> None:
    if isinstance(inputs, str) and inputs:
        return
    if not isinstance(inputs, list) or not inputs:
        raise BadRequestError("'input' must be a non-empty string or array.", param="input")
    if len(inputs) > MAX_INPUTS:
        raise BadRequestError(f"'input' may hold at most {MAX_INPUTS} items.", param="input")
    if _token_ids(inputs):  # one input given as token ids
        return
    for i, item in enumerate(inputs):
        if not ((isinstance(item, str) and item) or _token_ids(item)):
            raise BadRequestError(
                f"input[{i}] must be a non-empty string or an array of token ids.",
                param=f"input[{i}]",
            )


async def run_embeddings(
    svc: Services, ctx: RequestContext, body: dict[str, Any]
) -> dict[str, Any]:
    alias = body["model"]
    svc.router.resolve(alias)
    ctx.principal.check_model(alias)
    if svc.embedder is not None:
        return await svc.dispatcher.embed(ctx, body, svc.embedder.embed)
    return await svc.dispatcher.embed(ctx, body, send_embed)
