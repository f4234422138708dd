"""Gemini (Generative Language API) wire: generateContent and streamGenerateContent (alt=sse)."""

from __future__ import annotations

import json
from typing import Any

from .replies import TOOL_TRIGGER, estimate_tokens, example_arguments, plan_text_reply

__all__ = ["error_body", "generate", "stream_events", "validate"]

_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


def error_body(status: int, message: str) -> dict[str, Any]:
    return {"error": {"code": status, "message": message, "status": _STATUS.get(status, "UNKNOWN")}}


#: the audience google-auth puts in every service-account assertion, whatever token_uri is
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"


def verify_assertion(assertion: str, keys: dict[str, str]) -> dict[str, Any] | None:
    """The claims of a service account's signed JWT (None: bad signature, issuer or claims)."""
    from google.auth import jwt

    try:
        claims = jwt.decode(assertion, verify=False)
        key = keys.get(str(claims.get("iss")))
        if key is None:
            return None
        claims = jwt.decode(assertion, certs=key, audience=GOOGLE_TOKEN_AUDIENCE)
    except ValueError:
        return None
    scopes = str(claims.get("scope", "")).split()
    return claims if "https://www.googleapis.com/auth/cloud-platform" in scopes else None


def validate(
    headers: dict[str, str], body: Any, *, keyless: bool = False
) -> tuple[int, str] | None:
    if not keyless and not headers.get("x-goog-api-key"):
        return 403, "Method doesn't allow unregistered callers. Please use an API key."
    if not isinstance(body, dict) or not isinstance(body.get("contents"), list):
        return 400, "contents is required"
    for content in body["contents"]:
        if content.get("role") not in ("user", "model"):
            return 400, f"Please use a valid role: user, model (got {content.get('role')!r})"
    return None


def _text(parts: list[dict[str, Any]]) -> str:
    return " ".join(str(p["text"]) for p in parts if "text" in p)


def _last_user(body: dict[str, Any]) -> str:
    for content in reversed(body["contents"]):
        if content["role"] == "user":
            return _text(content.get("parts") or [])
    return ""


def _plan(body: dict[str, Any]) -> tuple[list[dict[str, Any]], str, int, list[str]]:
    """(parts, finishReason, output tokens, stream text pieces)."""
    config = body.get("generationConfig") or {}
    user = _last_user(body)
    tools = [d for t in body.get("tools") or [] for d in t.get("functionDeclarations") or []]
    calling = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
    if tools and (TOOL_TRIGGER in user or calling.get("mode") == "ANY"):
        allowed = calling.get("allowedFunctionNames") or []
        tool = next((t for t in tools if t["name"] in allowed), tools[0])
        call = {"name": tool["name"], "args": example_arguments(tool.get("parameters"))}
        return [{"functionCall": call}], "STOP", 5, []
    schema = config.get("responseJsonSchema")
    if config.get("responseMimeType") == "application/json":
        text = json.dumps(example_arguments(schema), separators=(",", ":"))
        return [{"text": text}], "STOP", estimate_tokens(text), [text]
    reply = plan_text_reply(user, config.get("maxOutputTokens"))
    finish = "MAX_TOKENS" if reply.truncated else "STOP"
    return [{"text": reply.text}], finish, reply.output_tokens, reply.pieces()


def _usage(body: dict[str, Any], output: int) -> dict[str, int]:
    system = _text((body.get("systemInstruction") or {}).get("parts") or [])
    text = system + " ".join(_text(c.get("parts") or []) for c in body["contents"])
    prompt = estimate_tokens(text)
    return {
        "promptTokenCount": prompt,
        "candidatesTokenCount": output,
        "totalTokenCount": prompt + output,
    }


def generate(body: dict[str, Any], model: str, response_id: str) -> dict[str, Any]:
    parts, finish, output, _ = _plan(body)
    return {
        "candidates": [
            {"content": {"role": "model", "parts": parts}, "finishReason": finish, "index": 0}
        ],
        "usageMetadata": _usage(body, output),
        "modelVersion": model,
        "responseId": response_id,
    }


def stream_events(body: dict[str, Any], model: str, response_id: str) -> list[bytes]:
    parts, finish, output, pieces = _plan(body)

    def event(payload: dict[str, Any]) -> bytes:
        return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\r\n\r\n"

    chunks = [[{"text": p}] for p in pieces] if pieces else [parts]
    events = []
    for i, chunk_parts in enumerate(chunks):
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": chunk_parts}, "index": 0}
        payload: dict[str, Any] = {
            "candidates": [candidate],
            "modelVersion": model,
            "responseId": response_id,
        }
        if i == len(chunks) - 1:
            candidate["finishReason"] = finish
            payload["usageMetadata"] = _usage(body, output)
        events.append(event(payload))
    return events
