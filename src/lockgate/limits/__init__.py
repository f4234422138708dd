"""Rate limits, token limits, concurrency limits and spend budgets, exact across replicas.

Three separate ideas: a pure rate value (``rate``), pure arithmetic (``algorithm``, ``budget``),
and storage chosen by URL (``memory://`` in process, ``redis://`` shared, one Lua script).
"""

from __future__ import annotations

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
from lockgate.limits.redis import RedisLimitStore
from lockgate.limits.rules import BudgetPeriod, LimitKind, LimitRule, rules_from_spec
from lockgate.limits.store import (
    Adjustment,
    Check,
    FailureMode,
    LimitStore,
    StoreDecision,
)

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
