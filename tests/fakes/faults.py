"""Faults the fake upstream injects on command, and the queue that hands them out."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = ["Fault", "FaultKind", "FaultQueue"]

FaultKind = Literal[
    "none",
    "status",
    "slow_headers",
    "slow_first_chunk",
    "stall",
    "reset_before_headers",
    "reset_mid_body",
    "drop_mid_stream",
    "end_early",
    "truncated_json",
    "malformed_json",
]


@dataclass(frozen=True)
class Fault:
    """One misbehaviour; build it with the classmethods rather than by hand.

    ``after_chunks`` counts body pieces already written: SSE events for a stream, or
    halves of the JSON body (so 1 = "half of it") for a plain response.
    ``path`` scopes the fault to request paths starting with it (None = any route).
    """

    kind: FaultKind
    status: int = 500
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    after_chunks: int = 0
    path: str | None = None

    @classmethod
    def none(cls, *, path: str | None = None) -> Fault:
        """Serve this request normally (a placeholder that keeps a script in order)."""
        return cls("none", path=path)

    @classmethod
    def error(
        cls,
        status: int,
        body: Any = None,
        *,
        retry_after: str | float | None = None,
        retry_after_ms: int | None = None,
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
        path: str | None = None,
    ) -> Fault:
        """An HTTP error, sent after ``delay`` seconds; ``body`` None means a
        provider-shaped error body for the route (str/bytes bodies are sent as they are)."""
        hdrs = dict(headers or {})
        if retry_after is not None:
            hdrs["retry-after"] = str(retry_after)
        if retry_after_ms is not None:
            hdrs["retry-after-ms"] = str(retry_after_ms)
        return cls("status", status=status, body=body, headers=hdrs, seconds=delay, path=path)

    @classmethod
    def slow_headers(cls, seconds: float, *, path: str | None = None) -> Fault:
        """Wait before sending the status line, then answer normally."""
        return cls("slow_headers", seconds=seconds, path=path)

    @classmethod
    def slow_first_chunk(cls, seconds: float, *, path: str | None = None) -> Fault:
        """Send headers at once, wait before the first body byte, then answer normally."""
        return cls("slow_first_chunk", seconds=seconds, path=path)

    @classmethod
    def stall(cls, after_chunks: int, seconds: float, *, path: str | None = None) -> Fault:
        """Write K body pieces, go silent for S seconds, then finish normally."""
        return cls("stall", after_chunks=after_chunks, seconds=seconds, path=path)

    @classmethod
    def reset_before_headers(cls, *, path: str | None = None) -> Fault:
        """Abort the TCP connection (RST) before any response byte."""
        return cls("reset_before_headers", path=path)

    @classmethod
    def reset_mid_body(cls, after_chunks: int = 1, *, path: str | None = None) -> Fault:
        """Write headers and K body pieces, then abort the connection (RST)."""
        return cls("reset_mid_body", after_chunks=after_chunks, path=path)

    @classmethod
    def drop_mid_stream(cls, after_chunks: int = 1, *, path: str | None = None) -> Fault:
        """Write headers and K body pieces, then close cleanly (FIN) with no terminator."""
        return cls("drop_mid_stream", after_chunks=after_chunks, path=path)

    @classmethod
    def end_early(cls, after_chunks: int = 1, *, path: str | None = None) -> Fault:
        """Write K body pieces and end the HTTP response properly: valid HTTP, but a stream
        without its terminator ([DONE] / message_stop) or a short plain body."""
        return cls("end_early", after_chunks=after_chunks, path=path)

    @classmethod
    def truncated_json(cls, *, path: str | None = None) -> Fault:
        """A 200 whose JSON body is cut in half (Content-Length matches the cut body)."""
        return cls("truncated_json", path=path)

    @classmethod
    def malformed_json(cls, *, path: str | None = None) -> Fault:
        """A 200 with a JSON content type and a body that is not JSON."""
        return cls("malformed_json", path=path)

    def matches(self, path: str) -> bool:
        return self.path is None or path.startswith(self.path)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fault:
        """Build from the JSON the control endpoint accepts (same keys as the fields)."""
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        headers = dict(known.pop("headers", None) or {})
        if "retry_after" in data:
            headers["retry-after"] = str(data["retry_after"])
        if "retry_after_ms" in data:
            headers["retry-after-ms"] = str(data["retry_after_ms"])
        return cls(headers=headers, **known)


@dataclass
class _Entry:
    fault: Fault
    remaining: int | None  # None: forever


class FaultQueue:
    """Faults waiting for requests; the first entry whose scope matches a request fires.

    Locked because tests push from their own thread while the server loop pops.
    """

    def __init__(self) -> None:
        self._entries: list[_Entry] = []
        self._lock = threading.Lock()

    def push(self, fault: Fault, times: int | None = 1) -> None:
        """Apply ``fault`` to the next ``times`` matching requests (None = every one)."""
        if times is not None and times < 1:
            raise ValueError("times must be >= 1 or None")
        with self._lock:
            self._entries.append(_Entry(fault, times))

    def take(self, path: str) -> Fault | None:
        with self._lock:
            for i, entry in enumerate(self._entries):
                if not entry.fault.matches(path):
                    continue
                if entry.remaining is not None:
                    entry.remaining -= 1
                    if entry.remaining == 0:
                        del self._entries[i]
                return entry.fault
            return None

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def pending(self) -> list[tuple[Fault, int | None]]:
        with self._lock:
            return [(e.fault, e.remaining) for e in self._entries]
