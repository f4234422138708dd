"""Per-request time budget and the per-attempt timeouts the I/O layer applies.

A :class:`Deadline` bounds the whole request, retries and fallbacks included; each
attempt's :class:`Timeouts` are clamped to what is left, so the I/O layer applies
``min(remaining, per-attempt timeout)`` without doing the arithmetic itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from lockgate.errors import BadRequestError

__all__ = ["TIMEOUT_HEADER", "Deadline", "Timeouts", "parse_timeout_header"]

#: Request header with which a client shortens (never lengthens) its time budget.
TIMEOUT_HEADER = "x-lockgate-timeout"


def parse_timeout_header(value: str | None) -> float | None:
    """Seconds from an ``x-lockgate-timeout`` header value; ``None`` when absent.

    Raises :class:`BadRequestError` for anything but a positive finite number.
    """
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds <= 0:
        raise BadRequestError(
            f"{TIMEOUT_HEADER} must be a positive number of seconds, got {value!r}",
            param=TIMEOUT_HEADER,
        )
    return seconds


@dataclass(frozen=True, slots=True)
class Deadline:
    """The instant (on the caller's monotonic clock) by which the request must be done."""

    start: float
    at: float

    @classmethod
    def after(cls, now: float, seconds: float) -> Deadline:
        return cls(now, now + seconds)

    @classmethod
    def for_request(
        cls, now: float, *, default_s: float, header_value: str | None = None
    ) -> Deadline:
        """The configured budget, shortened by the client's ``x-lockgate-timeout``.

        A header asking for more than ``default_s`` is capped to it: the gateway's
        configured budget is the ceiling.
        """
        asked = parse_timeout_header(header_value)
        seconds = default_s if asked is None else min(asked, default_s)
        return cls(now, now + seconds)

    @property
    def total(self) -> float:
        return self.at - self.start

    def remaining(self, now: float) -> float:
        return max(0.0, self.at - now)

    def expired(self, now: float) -> bool:
        return now >= self.at


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Timeouts of one upstream attempt, in seconds (``None``: unbounded)."""

    #: Establishing the connection (TCP + TLS).
    connect: float | None = 10.0
    #: From sending the request to the first response byte or first stream chunk.
    first_byte: float | None = 60.0
    #: Longest silence between two stream chunks.
    idle: float | None = 30.0
    #: The whole attempt.
    total: float | None = 600.0

    def clamped(self, remaining: float) -> Timeouts:
        """These timeouts, none longer than ``remaining`` (the deadline's leftover)."""

        # (inline, positional: an attempt usually clamps, when the deployment's timeout
        # equals the request's budget, so this runs for most requests)
        c, f, i, t = self.connect, self.first_byte, self.idle, self.total
        r = remaining
        return Timeouts(
            r if c is None or c > r else c,
            r if f is None or f > r else f,
            r if i is None or i > r else i,
            r if t is None or t > r else t,
        )

    def for_attempt(self, deadline: Deadline, now: float) -> Timeouts:
        """The timeouts of an attempt starting at ``now`` under ``deadline``."""
        return self.until(deadline.at, now)

    def until(self, at: float, now: float) -> Timeouts:
        """The timeouts of an attempt starting at ``now`` under a deadline at ``at``."""
        remaining = at - now
        c, f, i, t = self.connect, self.first_byte, self.idle, self.total
        if (
            c is not None
            and f is not None
            and i is not None
            and t is not None
            and remaining >= c
            and remaining >= f
            and remaining >= i
            and remaining >= t
        ):
            return self  # nothing to clamp (the usual case): no new object
        return self.clamped(max(0.0, remaining))
