"""What the fake saw: every request, and every response the client walked away from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["CancelEvent", "RecordedRequest"]


@dataclass(frozen=True)
class RecordedRequest:
    """One request as received. ``body`` is the parsed JSON (None if absent or not JSON)."""

    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: Any
    raw_body: bytes
    time: float  # the fake's clock (time.monotonic by default)
    fault: str | None = None  # kind of the fault applied, if any

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "headers": self.headers,
            "body": self.body,
            "time": self.time,
            "fault": self.fault,
        }


@dataclass(frozen=True)
class CancelEvent:
    """The client went away before the response was complete."""

    path: str
    stage: str  # "before_headers" or "mid_body"
    chunks_sent: int
    time: float
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "stage": self.stage,
            "chunks_sent": self.chunks_sent,
            "time": self.time,
        }
