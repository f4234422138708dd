"""Failures attributed to callers: each caller's own breaker on one deployment.

A caller is whoever the gateway serves (a virtual key's id, or its team): the name the
usage rows carry, never key material.  A deployment's :class:`CircuitBreaker` keeps one
:class:`CallerTable`; a caller gets an entry (a breaker of its own, same thresholds) at
its first upstream fault there, and loses it once it has no failure left in the window,
so the table holds the callers with recent trouble only.  It is capped: at
``max_entries`` the least recently used entry goes first, so a caller rotating through
keys costs a bounded amount of memory (about 0.8 KB an entry).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from lockgate.resilience.breaker import BreakerState, CircuitBreaker

__all__ = ["CallerEvents", "CallerListener", "CallerTable"]


@runtime_checkable
class CallerListener(Protocol):
    """Receives per-caller breaker events (logs, metrics); must be cheap and not raise."""

    def caller_state_changed(
        self, name: str, caller: str, old: BreakerState, new: BreakerState, now: float
    ) -> None: ...

    def callers_tracked(self, name: str, count: int) -> None: ...


class CallerEvents:
    """The listener of one caller's own breaker: hands its transitions on, with the caller."""

    __slots__ = ("caller", "inner")

    def __init__(self, caller: str, inner: CallerListener) -> None:
        self.caller = caller
        self.inner = inner

    def state_changed(self, name: str, old: BreakerState, new: BreakerState, now: float) -> None:
        self.inner.caller_state_changed(name, self.caller, old, new, now)

    def cooldown_started(self, name: str, seconds: float, now: float) -> None:
        """Never called: a caller's own breaker does not cool down (429s are the account's)."""


class CallerTable:
    """Callers' own breakers on one deployment, least recently used first."""

    __slots__ = ("_entries", "_make", "_on_size", "max_entries", "name")

    def __init__(
        self,
        name: str,
        make: Callable[[str], CircuitBreaker],
        max_entries: int,
        on_size: Callable[[str, int], None] | None = None,
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.name = name
        self._make = make
        self.max_entries = max_entries
        self._on_size = on_size
        self._entries: OrderedDict[str, CircuitBreaker] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, caller: str) -> CircuitBreaker | None:
        return self._entries.get(caller)

    def ensure(self, caller: str) -> CircuitBreaker:
        """``caller``'s breaker, made on first use; marks it the most recently used."""
        entries = self._entries
        own = entries.get(caller)
        if own is not None:
            entries.move_to_end(caller)
            return own
        if len(entries) >= self.max_entries:
            entries.popitem(last=False)
        own = entries[caller] = self._make(caller)
        if self._on_size is not None:
            self._on_size(self.name, len(entries))
        return own

    def drop_if_clean(self, caller: str, own: CircuitBreaker) -> None:
        """Forget ``caller`` once its breaker is closed with no failure in the window."""
        if own.clean() and self._entries.get(caller) is own:
            del self._entries[caller]
            if self._on_size is not None:
                self._on_size(self.name, len(self._entries))

    def worst(self, now: float) -> tuple[int, int]:
        """(calls, failures) in the window of the caller with the most failures."""
        calls = failures = 0
        for own in self._entries.values():
            c, f = own.window_counts(now)
            if f > failures:
                calls, failures = c, f
        return calls, failures

    def open_count(self, now: float) -> int:
        """How many tracked callers are cut off (their own breaker open) now."""
        return sum(1 for own in self._entries.values() if own.state(now) == "open")

    def snapshot(self, now: float, limit: int = 20) -> dict[str, Any]:
        """The tracked callers with the most failures first (at most ``limit``)."""
        rows: list[tuple[bool, int, dict[str, Any]]] = []
        for caller, own in self._entries.items():
            calls, failures = own.window_counts(now)
            state = own.state(now)
            row = {
                "caller": caller,
                "state": state,
                "calls": calls,
                "failures": failures,
                "available_in_s": own.available_in(now),
            }
            rows.append((state == "closed", -failures, row))
        rows.sort(key=lambda r: (r[0], r[1]))
        return {"tracked": len(self._entries), "callers": [r[2] for r in rows[:limit]]}
