"""OpenAI-compatible servers that differ from OpenAI in small, real ways.

Mounted by FakeUpstream under a prefix: ``/azure/openai/deployments/{name}/...``
(Azure: api-key header, api-version query), ``/groq/openai/v1/...`` (stream usage
in ``x_groq.usage``), ``/mistral/v1/...`` (422 on ``stream_options``; usage in the
last chunk anyway) and ``/nousage/v1/...`` (older Ollama/vLLM: no usage in streams).
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["VARIANTS", "adapt_events", "check_request"]

VARIANTS = ("azure", "groq", "mistral", "nousage")


def check_request(
    variant: str, headers: dict[str, str], query: dict[str, str], body: Any
) -> str | None:
    """Why the variant's server would refuse this request, or None."""
    if variant == "azure":
        if not query.get("api-version"):
            return "api-version query parameter is required"
        if not headers.get("api-key") and not headers.get("authorization", "").startswith(
            "Bearer "
        ):
            return "api-key header is required"
    if variant == "mistral" and isinstance(body, dict) and "stream_options" in body:
        return "stream_options: Extra inputs are not permitted"
    return None


def _decode(event: bytes) -> Any:
    data = event.decode().removeprefix("data: ").strip()
    return None if data == "[DONE]" else json.loads(data)


def _encode(payload: Any) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


def adapt_events(variant: str, events: list[bytes]) -> list[bytes]:
    """Rewrite OpenAI's stream events (built with include_usage) the variant's way."""
    payloads = [_decode(e) for e in events]
    usage = next((p["usage"] for p in payloads if p and p.get("usage")), None)
    out: list[bytes] = []
    for payload in payloads:
        if payload is None:
            out.append(b"data: [DONE]\n\n")
            continue
        if not payload.get("choices"):
            if variant == "azure":
                out.append(_encode(payload))
            continue  # the usage-only chunk
        payload.pop("usage", None)
        finished = any(c.get("finish_reason") for c in payload["choices"])
        if finished and variant == "groq":
            payload["x_groq"] = {"id": "req_fake", "usage": usage}
        if finished and variant == "mistral":
            payload["usage"] = usage
        out.append(_encode(payload))
    return out
