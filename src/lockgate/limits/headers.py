"""OpenAI-style rate-limit response headers, built from a decision's limit states.

    x-ratelimit-limit-requests: 100       x-ratelimit-limit-tokens: 50000
    x-ratelimit-remaining-requests: 99    x-ratelimit-remaining-tokens: 49000
    x-ratelimit-reset-requests: 600ms     x-ratelimit-reset-tokens: 1.2s

When several request (or token) limits apply (key, team, model...), the headers describe the
tightest one: fewest remaining, then longest reset.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lockgate.limits.limiter import LimitState

__all__ = ["format_duration", "rate_limit_headers"]


def format_duration(seconds: float) -> str:
    """Go-style duration as OpenAI sends it: ``"20ms"``, ``"1.5s"``, ``"6m0s"``, ``"1h2m3s"``."""
    if seconds <= 0:
        return "0s"
    if seconds < 1:
        return f"{math.ceil(seconds * 1000)}ms"
    if seconds < 60:
        text = f"{math.ceil(seconds * 1000) / 1000:.3f}".rstrip("0").rstrip(".")
        return f"{text}s"
    total = math.ceil(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    return f"{minutes}m{secs}s"


def rate_limit_headers(
    states: Iterable[LimitState], *, retry_after: float | None = None
) -> dict[str, str]:
    """The ``x-ratelimit-*`` headers (plus ``retry-after`` and ``retry-after-ms`` on a 429)."""
    tightest: dict[str, LimitState] = {}
    for state in states:
        kind: str = state.rule.kind
        if kind not in ("requests", "tokens"):
            continue
        best = tightest.get(kind)
        if (
            best is None
            or state.remaining < best.remaining
            or (state.remaining == best.remaining and state.reset > best.reset)
        ):
            tightest[kind] = state
    headers: dict[str, str] = {}
    for kind, state in tightest.items():
        headers[f"x-ratelimit-limit-{kind}"] = str(int(state.limit))
        headers[f"x-ratelimit-remaining-{kind}"] = str(max(0, math.floor(state.remaining + 1e-9)))
        headers[f"x-ratelimit-reset-{kind}"] = format_duration(state.reset)
    if retry_after is not None:
        headers["retry-after"] = str(max(1, math.ceil(retry_after)))
        headers["retry-after-ms"] = str(max(1, math.ceil(retry_after * 1000)))
    return headers
