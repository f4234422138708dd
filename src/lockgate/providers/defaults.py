"""A deployment's default request parameters (LiteLLM's ``litellm_params``).

``temperature`` and ``max_tokens`` set on a deployment fill in what the client
left out; what the client sent always wins.
"""

from __future__ import annotations

from typing import Any

from lockgate.settings import ModelParams

__all__ = ["apply_defaults"]


def apply_defaults(body: dict[str, Any], params: ModelParams) -> dict[str, Any]:
    """``body`` with the deployment's defaults filled in (a new dict only if any apply)."""
    out = body
    if params.temperature is not None and body.get("temperature") is None:
        out = {**out, "temperature": params.temperature}
    if (
        params.max_tokens is not None
        and body.get("max_tokens") is None
        and body.get("max_completion_tokens") is None
    ):
        out = {**out, "max_tokens": params.max_tokens}
    return out
