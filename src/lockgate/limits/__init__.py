"""Rate limits, token limits, concurrency limits and spend budgets, exact across replicas.

Three separate ideas: a pure rate value (``rate``), pure arithmetic (``algorithm``, ``budget``),
and storage chosen by URL (``memory://`` in process, ``redis://`` shared, one Lua script)::

    store = create_limit_store("redis://127.0.0.1:6379/0", failure_mode="fail_open", timeout=0.05)
    limiter = Limiter(store, time.time)
    rules = rules_from_spec("key:abc", {"requests": "100/minute", "tokens": "50000/minute"})
    reservation = await limiter.reserve(rules, tokens=prompt_tokens + max_tokens)
    headers = rate_limit_headers(reservation.states)
    ...
    await limiter.finish(reservation, tokens=usage.total_tokens, cost=cost_usd)

Every rule of a request is checked and taken in one atomic step (one Redis round trip): all
of them or none. One Redis only: the keys of a request span hash slots, so Redis Cluster
would need every subject's keys under one hash tag.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lockgate.limits.budget import current_period
from lockgate.limits.factory import create_limit_store
from lockgate.limits.headers import format_duration, rate_limit_headers
from lockgate.limits.limiter import (
    BudgetRejectedError,
    Decision,
    Limiter,
    LimitRejectedError,
    LimitState,
    Reservation,
)
from lockgate.limits.memory import MemoryLimitStore
from lockgate.limits.rate import Rate, parse_rate
from lockgate.limits.rules import BudgetPeriod, LimitKind, LimitRule, rules_from_spec
from lockgate.limits.store import (
    Adjustment,
    Check,
    FailureMode,
    LimitStore,
    StoreDecision,
)

if TYPE_CHECKING:
    from lockgate.limits.redis import RedisLimitStore

__all__ = [
    "Adjustment",
    "BudgetPeriod",
    "BudgetRejectedError",
    "Check",
    "Decision",
    "FailureMode",
    "LimitKind",
    "LimitRejectedError",
    "LimitRule",
    "LimitState",
    "LimitStore",
    "Limiter",
    "MemoryLimitStore",
    "Rate",
    "RedisLimitStore",
    "Reservation",
    "StoreDecision",
    "create_limit_store",
    "current_period",
    "format_duration",
    "parse_rate",
    "rate_limit_headers",
    "rules_from_spec",
]


def __getattr__(name: str) -> Any:
    """``RedisLimitStore`` on first use: redis-py loads only when a Redis is configured."""
    if name == "RedisLimitStore":
        from lockgate.limits.redis import RedisLimitStore

        return RedisLimitStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
