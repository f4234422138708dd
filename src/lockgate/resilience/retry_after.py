"""Reading how long an upstream asks us to wait (``retry-after-ms`` / ``retry-after``,
and on a 429 without them ``x-ratelimit-reset(-requests|-tokens)``).

Follows openai-python's ``_parse_retry_after_header``: ``retry-after-ms`` (float
milliseconds, non-standard but sent by OpenAI) wins over ``retry-after``, which is
either delta-seconds or an HTTP-date.  HTTP-dates are converted with the caller's
wall-clock ``now`` so the parse stays pure.
"""

from __future__ import annotations

import email.utils
import math
import re
from collections.abc import Mapping

__all__ = ["header", "parse_duration", "parse_ratelimit_reset", "parse_retry_after"]


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


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
#: a reset value this large is a Unix time, not a number of seconds
_EPOCH = 1_000_000_000.0


def parse_duration(text: str, *, now: float) -> float | None:
    """Seconds in ``"1s"``, ``"6m0s"``, ``"20ms"``, ``"1h2m3.5s"`` (OpenAI's reset format),
    plain seconds, or a Unix time (``now`` turns it into seconds from now)."""
    text = text.strip().lower()
    try:
        value = float(text)
    except ValueError:
        pass
    else:
        if value >= _EPOCH:
            value = max(0.0, value - now)
        return _non_negative(value)
    total, pos = 0.0, 0
    for m in _DURATION.finditer(text):
        if m.start() != pos:
            return None
        total += float(m.group(1)) * _UNIT[m.group(2)]
        pos = m.end()
    if pos == 0 or pos != len(text):
        return None
    return _non_negative(total)


def parse_ratelimit_reset(headers: Mapping[str, str], *, now: float) -> float | None:
    """Seconds until the exhausted upstream rate limit resets, from ``x-ratelimit-reset-*``.

    The limit whose ``x-ratelimit-remaining-*`` is 0 is the one to wait for; without
    remaining counts the longest reset is taken.
    """
    waits: list[float] = []
    exhausted: list[float] = []
    for kind in ("-requests", "-tokens", ""):
        raw = header(headers, "x-ratelimit-reset" + kind)
        if raw is None:
            continue
        wait = parse_duration(raw, now=now)
        if wait is None:
            continue
        waits.append(wait)
        left = header(headers, "x-ratelimit-remaining" + kind)
        if left is not None and left.strip() in ("0", "0.0"):
            exhausted.append(wait)
    if exhausted:
        return max(exhausted)
    return max(waits) if waits else None
