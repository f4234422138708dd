"""Map an upstream's failed HTTP answer onto lockgate's error tree."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from typing import Literal

import orjson

from lockgate.errors import (
    ContextWindowExceededError,
    UpstreamBadResponseError,
    UpstreamClientError,
    UpstreamError,
    UpstreamOverloadedError,
    UpstreamRateLimitedError,
    UpstreamTimeoutError,
)

__all__ = ["classify_upstream_failure", "parse_retry_after"]

_CONTEXT_MARKERS = (
    "context_length_exceeded",
    "maximum context length",
    "context window",
    "prompt is too long",
    "too many tokens",
)


def parse_retry_after(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds to wait, from ``retry-after-ms`` or ``retry-after`` (seconds or HTTP date)."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


def _message(body: bytes) -> tuple[str, str]:
    """(message, code) from an OpenAI or Anthropic error body, or the text itself."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        text = body.decode("utf-8", "replace").strip()
        return (text[:500] or "no body"), ""
    err = data.get("error") if isinstance(data, dict) else None
    if isinstance(err, dict):
        return str(err.get("message") or err)[:1000], str(err.get("code") or err.get("type") or "")
    if isinstance(err, str):
        return err[:1000], ""
    return body.decode("utf-8", "replace")[:500], ""


def classify_upstream_failure(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    provider: Literal["openai", "anthropic", "mock"],
    now: float | None = None,
) -> UpstreamError:
    """The error to raise for a non-2xx upstream answer."""
    message, code = _message(body)
    text = f"{provider} upstream returned {status}: {message}"
    retry_after = parse_retry_after(headers, time.time() if now is None else now)
    lowered = (message + " " + code).lower()
    err: UpstreamError
    if any(marker in lowered for marker in _CONTEXT_MARKERS) and status in (400, 413, 422):
        err = ContextWindowExceededError(text, upstream_status=status)
    elif status == 429:
        err = UpstreamRateLimitedError(text, upstream_status=status, retry_after=retry_after)
    elif status in (503, 529):
        err = UpstreamOverloadedError(text, upstream_status=status, retry_after=retry_after)
    elif status in (408, 504):
        err = UpstreamTimeoutError(text, upstream_status=status, retry_after=retry_after)
    elif status == 409 or status >= 500:
        err = UpstreamError(text, upstream_status=status, retry_after=retry_after)
    elif 400 <= status < 500:
        err = UpstreamClientError(
            text, upstream_status=status, status=status if status != 401 else 502
        )
    else:
        err = UpstreamBadResponseError(text, upstream_status=status)
    should = headers.get("x-should-retry")
    if should in ("true", "false"):
        err.force_retry = should == "true"
    return err
