"""Mapping a failed upstream answer to the error tree, and deciding what is retryable.

The retry rules are openai-python's (``_base_client._should_retry``): 408, 409, 429
and 5xx retry, other 4xx never, and an ``x-should-retry: true|false`` header from
the provider overrides both.  Anthropic's 529 (and ``overloaded_error`` bodies) are
overload.  A context-length rejection is never retried but may switch to a
bigger-context alias (see :mod:`lockgate.resilience.retry_plan`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

from lockgate.errors import (
    ContextWindowExceededError,
    GatewayError,
    UpstreamBadResponseError,
    UpstreamClientError,
    UpstreamError,
    UpstreamOverloadedError,
    UpstreamRateLimitedError,
    UpstreamTimeoutError,
)
from lockgate.resilience.retry_after import header, parse_ratelimit_reset, parse_retry_after

__all__ = [
    "Provider",
    "classify_upstream_failure",
    "is_context_window_message",
    "retry_hint",
    "should_retry",
]

Provider = Literal["openai", "anthropic"]

#: Longest upstream text body carried into an error message.
MAX_MESSAGE_CHARS = 512

# Phrases providers and OpenAI-compatible servers (vLLM, llama.cpp, Bedrock) use when
# the prompt does not fit; matched lower-cased, only on 4xx/400-type answers.
_CONTEXT_PHRASES = (
    "context_length_exceeded",
    "maximum context length",
    "context length exceeded",
    "prompt is too long",
    "exceed context limit",
    "exceeds the context window",
    "input is too long",
    "reduce the length of the messages",
)


def retry_hint(error: GatewayError) -> bool | None:
    """The provider's ``x-should-retry`` verdict carried by ``error``, if any."""
    return error.force_retry if isinstance(error, UpstreamError) else None


def should_retry(error: GatewayError) -> bool:
    """Whether another attempt of the same request may succeed.

    The provider's ``x-should-retry`` wins; otherwise the error tree decides
    (``UpstreamError.retryable``: timeouts, connection errors, 408/409/429/5xx).
    """
    hint = retry_hint(error)
    if hint is not None:
        return hint
    return error.retryable


def is_context_window_message(message: str, code: str | None = None) -> bool:
    """Whether an upstream rejection says the prompt is longer than the model's window."""
    if code == "context_length_exceeded":
        return True
    lowered = message.lower()
    return any(phrase in lowered for phrase in _CONTEXT_PHRASES)


def _error_fields(body: bytes) -> tuple[str | None, str | None, str | None, str | None]:
    """(message, code, type, param) from an OpenAI or Anthropic JSON error body."""
    try:
        data: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None, None, None, None
    if not isinstance(data, dict):
        return None, None, None, None
    err = data.get("error")
    if isinstance(err, dict):
        fields = err
    else:
        fields = data
        if isinstance(err, str):
            fields = {"message": err}
    message = fields.get("message")
    if not isinstance(message, str):
        detail = data.get("detail")
        message = detail if isinstance(detail, str) else None
    code = fields.get("code")
    etype = fields.get("type")
    param = fields.get("param")
    return (
        message,
        code if isinstance(code, str) else None,
        etype if isinstance(etype, str) and etype != "error" else None,
        param if isinstance(param, str) else None,
    )


def _text_excerpt(body: bytes) -> str:
    text = body[: MAX_MESSAGE_CHARS * 4].decode("utf-8", errors="replace").strip()
    if len(text) > MAX_MESSAGE_CHARS:
        return text[:MAX_MESSAGE_CHARS] + "…"
    return text


def _build(
    status: int,
    message: str,
    code: str | None,
    etype: str | None,
    param: str | None,
    retry_after: float | None,
) -> UpstreamError:
    kw: dict[str, Any] = {
        "retry_after": retry_after,
        "upstream_status": status,
        "upstream_code": code or etype,
    }
    if status == 529 or etype == "overloaded_error":
        return UpstreamOverloadedError(message, **kw)
    if status == 429 or etype in ("rate_limit_error", "insufficient_quota"):
        # OpenAI's 429 insufficient_quota will not clear by waiting, but another
        # deployment (another key) may still answer, so it stays a rate limit.
        if code == "insufficient_quota" or etype == "insufficient_quota":
            kw["code"] = "upstream_insufficient_quota"
        return UpstreamRateLimitedError(message, **kw)
    if status == 408 or etype == "timeout_error":
        return UpstreamTimeoutError(message, **kw)
    if status == 409:
        return UpstreamError(message, code="upstream_conflict", **kw)
    client_side = 400 <= status < 500 or (status < 400 and etype == "invalid_request_error")
    if client_side:
        if is_context_window_message(message, code):
            return ContextWindowExceededError(message, param=param, **kw)
        if status in (401, 403) or etype in ("authentication_error", "permission_error"):
            # The gateway's own upstream credentials failed: not the caller's fault.
            return UpstreamClientError(message, code="upstream_auth_failed", status=502, **kw)
        if status == 404 or etype == "not_found_error":
            return UpstreamClientError(message, code="upstream_not_found", status=502, **kw)
        if status == 413 or etype == "request_too_large":
            return UpstreamClientError(message, code="request_too_large", status=413, **kw)
        return UpstreamClientError(message, param=param, **kw)
    if status == 503:
        return UpstreamOverloadedError(message, **kw)
    if status == 504:
        return UpstreamTimeoutError(message, **kw)
    if status >= 500 or etype == "api_error":
        return UpstreamError(message, **kw)
    return UpstreamBadResponseError(message, **kw)


def classify_upstream_failure(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    provider: Provider,
    *,
    now: float,
) -> UpstreamError:
    """The error for a failed upstream answer (status, headers and raw body).

    ``now`` is wall-clock time, used only to turn an HTTP-date ``retry-after`` into
    seconds.  The upstream's own message (JSON ``error.message`` or a truncated text
    body) becomes the error message; ``upstream_status`` keeps the provider's status.
    A 2xx ``status`` with an error body (a mid-stream ``error`` event) is classified
    by the body's error ``type``.
    """
    message, code, etype, param = _error_fields(body)
    if not message:
        message = _text_excerpt(body) or f"{provider} returned HTTP {status}"
    retry_after = parse_retry_after(headers, now=now)
    if retry_after is None and status == 429:
        retry_after = parse_ratelimit_reset(headers, now=now)
    error = _build(status, message, code, etype, param, retry_after)
    verdict = header(headers, "x-should-retry")
    if verdict is not None:
        verdict = verdict.strip().lower()
        if verdict in ("true", "false"):
            error.force_retry = verdict == "true"
    return error
