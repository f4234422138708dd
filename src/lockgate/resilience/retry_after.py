"""Reading how long an upstream asks us to wait (``retry-after-ms`` / ``retry-after``).

Follows openai-python's ``_parse_retry_after_header``: ``retry-after-ms`` (float
milliseconds, non-standard but sent by OpenAI) wins over ``retry-after``, which is
either delta-seconds or an HTTP-date.  HTTP-dates are converted with the caller's
wall-clock ``now`` so the parse stays pure.
"""

from __future__ import annotations

import email.utils
import math
from collections.abc import Mapping

__all__ = ["header", "parse_retry_after"]


def header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive lookup of ``name`` (given in lower case) in any mapping."""
    value = headers.get(name)
    if value is not None:
        return value
    # Plain dicts keep the upstream's spelling; case-insensitive multidicts hit above.
    for key, val in headers.items():
        if key.lower() == name:
            return val
    return None


def _non_negative(value: float) -> float | None:
    if math.isnan(value) or math.isinf(value) or value < 0:
        return None
    return value


def parse_retry_after(headers: Mapping[str, str], *, now: float) -> float | None:
    """Seconds to wait according to the headers, or ``None`` if absent or unreadable.

    ``now`` is wall-clock time (``time.time()``), needed only for HTTP-dates; a date
    in the past yields ``0.0``.
    """
    ms = header(headers, "retry-after-ms")
    if ms is not None:
        try:
            value = _non_negative(float(ms.strip()) / 1000.0)
        except ValueError:
            value = None
        if value is not None:
            return value
    raw = header(headers, "retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        return _non_negative(float(raw))
    except ValueError:
        pass
    parsed = email.utils.parsedate_tz(raw)
    if parsed is None:
        return None
    return max(0.0, float(email.utils.mktime_tz(parsed)) - now)
