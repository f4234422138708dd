"""Bounding and cleaning strings before they are stored (pure).

Every string column has a length, and PostgreSQL refuses NUL characters in text;
one client-chosen value breaking either rule used to fail the whole batch it was
written in.  Values are clipped to the column's length and stripped of control
characters here, so a row is always storable.
"""

from __future__ import annotations

import re

__all__ = ["bounded"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def bounded(value: str | None, limit: int) -> str | None:
    """``value`` without control characters, cut to at most ``limit`` characters."""
    if value is None:
        return None
    if not value.isprintable():
        value = _CONTROL.sub("", value)
    return value if len(value) <= limit else value[:limit]
