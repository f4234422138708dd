"""The ``x-lockgate-cache`` response header."""

from __future__ import annotations

from typing import Literal

__all__ = ["CACHE_STATUS_HEADER", "CacheStatus", "cache_header_value"]

CACHE_STATUS_HEADER = "x-lockgate-cache"

CacheStatus = Literal["hit", "semantic-hit", "miss", "bypass"]


def cache_header_value(status: CacheStatus, score: float | None = None) -> str:
    """``hit``, ``semantic-hit; score=0.93``, ``miss`` or ``bypass``."""
    if status == "semantic-hit" and score is not None:
        return f"semantic-hit; score={score:.2f}"
    return status
