"""A deployment's own per-minute quota (LiteLLM's ``rpm`` / ``tpm`` on a deployment).

Pure and driven by the caller's monotonic ``now``: a sliding 60-second log of
requests and tokens.  A deployment at its quota is skipped by the balancer while
the alias has another; when none is left the client gets a 429 with the wait.
The count is per gateway process (a provider's own limit is the real authority;
this keeps one replica from running into it).
"""

from __future__ import annotations

from collections import deque

__all__ = ["MinuteQuota"]

WINDOW_S = 60.0


class _Log:
    __slots__ = ("entries", "total")

    def __init__(self) -> None:
        self.entries: deque[tuple[float, int]] = deque()
        self.total = 0

    def trim(self, now: float) -> None:
        entries = self.entries
        while entries and entries[0][0] <= now - WINDOW_S:
            self.total -= entries.popleft()[1]

    def add(self, now: float, amount: int) -> None:
        self.entries.append((now, amount))
        self.total += amount

    def free_in(self, now: float, limit: int) -> float:
        """Seconds until the total falls below ``limit`` (0.0 if it is below)."""
        over = self.total - limit + 1
        if over <= 0:
            return 0.0
        for stamp, amount in self.entries:
            over -= amount
            if over <= 0:
                return max(0.0, stamp + WINDOW_S - now)
        return WINDOW_S


class MinuteQuota:
    """Requests and tokens per minute of one deployment; ``None`` means no limit."""

    __slots__ = ("_requests", "_tokens", "rpm", "tpm")

    def __init__(self, rpm: int | None = None, tpm: int | None = None) -> None:
        self.rpm = rpm
        self.tpm = tpm
        self._requests = _Log()
        self._tokens = _Log()

    def available_in(self, now: float) -> float:
        """Seconds until the deployment may take another request (0.0: now)."""
        wait = 0.0
        if self.rpm is not None:
            self._requests.trim(now)
            wait = self._requests.free_in(now, self.rpm)
        if self.tpm is not None:
            self._tokens.trim(now)
            wait = max(wait, self._tokens.free_in(now, self.tpm))
        return wait

    def available(self, now: float) -> bool:
        return self.available_in(now) == 0.0

    def record_request(self, now: float) -> None:
        if self.rpm is not None:
            self._requests.add(now, 1)

    def record_tokens(self, now: float, tokens: int) -> None:
        if self.tpm is not None and tokens > 0:
            self._tokens.add(now, tokens)
