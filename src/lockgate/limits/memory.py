"""In-process limit store (``memory://``): exact within one process, nothing shared.

Atomicity comes from asyncio: ``reserve`` and ``settle`` never await, so no other task runs
between the check and the take. Not thread-safe; use one store per event loop.

The state is bounded by ``max_entries`` (meters, budgets and lease sets together; each key,
user or IP a limit applies to holds one per limit).  Idle entries are swept as they drain.
When a request would add entries to a full store, the store sweeps at once (at most once a
second) and, if it is still full, refuses that request with a 503 ``limit_state_full``
(counted in ``lockgate_limit_state_refusals_total``, logged at 1, 2, 4... refusals).
Callers already in the store keep being limited exactly; nothing is evicted, because
forgetting an entry would reset that caller's meter and let it past its limit.  So a client
minting many distinct ``user`` values cannot grow the process without bound, nor escape a
limit: at worst new identities wait until the store has room.  A fleet, or a deployment
with more live identities than the bound, wants ``redis://``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import structlog

from lockgate.errors import ServiceUnavailableError
from lockgate.limits.algorithm import budget_admits, drained, gcra_admits, gcra_wait
from lockgate.limits.store import Adjustment, Check, StoreDecision

__all__ = ["MemoryLimitStore"]

# Budget keys outlive their period by a day so late reconciles still land (as on Redis).
_BUDGET_GRACE = 86400.0
# Seconds a rejected concurrent request is told to wait: slots free up when calls finish.
_LEASE_RETRY = 1.0
# Seconds a caller refused by a full store is told to wait, and the least time between the
# forced sweeps a full store runs (a sweep walks every entry).
_FULL_RETRY = 1.0

log = structlog.get_logger("lockgate.limits")


class MemoryLimitStore:
    """Limit state in dicts, swept of idle entries every ``sweep_every`` reserves."""

    def __init__(
        self,
        *,
        sweep_every: int = 4096,
        max_entries: int = 200_000,
        on_full: Callable[[], None] | None = None,
    ) -> None:
        self._meters: dict[str, list[float]] = {}  # key -> [used, t, limit, period]
        self._budgets: dict[str, list[float]] = {}  # key -> [spent, expires_at]
        self._leases: dict[str, dict[str, float]] = {}  # key -> {member: expires_at}
        self._sweep_every = sweep_every
        self._ops = 0
        self.max_entries = max_entries
        #: requests refused because the store was full (and ``on_full`` called for each)
        self.refused = 0
        self._on_full = on_full
        self._forced_sweep_at = float("-inf")

    async def reserve(self, checks: Sequence[Check], now: float) -> StoreDecision:
        """Check every limit; take all of them only if all pass."""
        self._ops += 1
        if self._ops >= self._sweep_every:
            self._sweep(now)
        levels: list[float] = []
        allowed = True
        rejected = -1
        retry_after = 0.0
        for i, check in enumerate(checks):
            ok, level, wait = self._check(check, now)
            levels.append(level)
            if not ok:
                allowed = False
                if rejected < 0 or wait > retry_after:
                    rejected, retry_after = i, wait
        if allowed:
            new = self._new_entries(checks)
            if new and self._entries() + new > self.max_entries:
                self._refuse_if_full(new, now)
            levels = [self._take(c, level, now) for c, level in zip(checks, levels, strict=True)]
        return StoreDecision(allowed, rejected, retry_after, tuple(levels))

    def _entries(self) -> int:
        return len(self._meters) + len(self._budgets) + len(self._leases)

    def _new_entries(self, checks: Sequence[Check]) -> int:
        """Entries taking ``checks`` would add (keys the store holds nothing for yet)."""
        new = 0
        for c in checks:
            if c.algo == "gcra":
                new += c.key not in self._meters
            elif c.algo == "budget":
                new += c.cost > 0 and c.key not in self._budgets
            else:
                new += c.key not in self._leases
        return new

    def _refuse_if_full(self, new: int, now: float) -> None:
        """Sweep once (at most every ``_FULL_RETRY`` s); still no room: refuse (503)."""
        if now - self._forced_sweep_at >= _FULL_RETRY:
            self._forced_sweep_at = now
            self._sweep(now)
            if self._entries() + new <= self.max_entries:
                return
        self.refused += 1
        if self._on_full is not None:
            self._on_full()
        if self.refused & (self.refused - 1) == 0:  # 1, 2, 4, 8...: not a flood
            log.error(
                "in-process limit state full: a caller it holds nothing for was refused",
                entries=self._entries(),
                max_entries=self.max_entries,
                refused=self.refused,
            )
        raise ServiceUnavailableError(
            f"rate limit state is full ({self.max_entries} entries in this process);"
            " new callers are refused until idle entries drain",
            code="limit_state_full",
            retry_after=_FULL_RETRY,
        )

    def _check(self, check: Check, now: float) -> tuple[bool, float, float]:
        """``(admits, current level, seconds to wait if not)`` without writing."""
        if check.algo == "gcra":
            state = self._meters.get(check.key)
            level = 0.0
            if state is not None:
                level = drained(state[0], state[1], now, check.limit, check.period)
            if gcra_admits(level, check.cost, check.limit):
                return True, level, 0.0
            return False, level, gcra_wait(level, check.cost, check.limit, check.period)
        if check.algo == "budget":
            budget = self._budgets.get(check.key)
            spent = budget[0] if budget is not None and budget[1] > now else 0.0
            return budget_admits(spent, check.cost, check.limit), spent, check.period
        leases = self._leases.get(check.key)
        if leases:
            for member in [m for m, expiry in leases.items() if expiry <= now]:
                del leases[member]  # expired leases of crashed or stuck requests come back
        count = float(len(leases)) if leases else 0.0
        return count + 1 <= check.limit, count, _LEASE_RETRY

    def _take(self, check: Check, level: float, now: float) -> float:
        """Write the taken state; returns the level after."""
        if check.algo == "gcra":
            after = level + check.cost
            state = self._meters.get(check.key)
            t = now if state is None or now > state[1] else state[1]
            self._meters[check.key] = [after, t, check.limit, check.period]
            return after
        if check.algo == "budget":
            after = level + check.cost
            if check.cost > 0:
                self._budgets[check.key] = [after, now + check.period + _BUDGET_GRACE]
            return after
        self._leases.setdefault(check.key, {})[check.member] = now + check.period
        return level + 1

    async def settle(self, adjustments: Sequence[Adjustment], now: float) -> bool:
        """Reconcile usage and release or renew leases."""
        for adj in adjustments:
            if adj.op == "gcra":
                state = self._meters.get(adj.key)
                level = 0.0
                t = now
                if state is not None:
                    level = drained(state[0], state[1], now, adj.limit, adj.period)
                    t = max(t, state[1])
                after = level + adj.delta
                self._meters[adj.key] = [after if after > 0 else 0.0, t, adj.limit, adj.period]
            elif adj.op == "budget":
                budget = self._budgets.get(adj.key)
                spent = budget[0] if budget is not None and budget[1] > now else 0.0
                after = spent + adj.delta
                self._budgets[adj.key] = [
                    after if after > 0 else 0.0,
                    now + adj.period + _BUDGET_GRACE,
                ]
            elif adj.op == "release":
                leases = self._leases.get(adj.key)
                if leases is not None:
                    leases.pop(adj.member, None)
            else:
                leases = self._leases.get(adj.key)
                if leases is not None and adj.member in leases:
                    leases[adj.member] = now + adj.period
        return True

    def _sweep(self, now: float) -> None:
        """Forget meters drained to zero, budgets past their period, empty lease sets."""
        self._ops = 0
        for key in [
            k for k, (u, t, lim, per) in self._meters.items() if drained(u, t, now, lim, per) == 0
        ]:
            del self._meters[key]
        for key in [k for k, (_, expires) in self._budgets.items() if expires <= now]:
            del self._budgets[key]
        for key in [k for k, leases in self._leases.items() if not leases]:
            del self._leases[key]

    def memory_sizes(self) -> list[tuple[str, int, int]]:
        """(name, entries, 0): limit state held for keys, users and IPs (swept when idle,
        bounded by ``max_entries``)."""
        return [("limit_state", self._entries(), 0)]

    async def aclose(self) -> None:
        """Nothing to release."""
