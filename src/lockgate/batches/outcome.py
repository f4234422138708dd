"""What running one batch line gave: a status and an OpenAI-shaped body."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Outcome", "retryable"]


@dataclass(frozen=True, slots=True)
class Outcome:
    status: int
    body: dict[str, Any]
    request_id: str
    #: its upstream answer came from the answer journal (answered before a crash):
    #: it was not sent again
    replayed: bool = False


def retryable(status: int) -> bool:
    """Worth another try later: rate limits, overload, upstream and gateway trouble."""
    return status in (408, 409, 429) or status >= 500
