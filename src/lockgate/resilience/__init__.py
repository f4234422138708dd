"""Routing and resilience: pure cores driven by a caller's clock and rng.

Nothing here sleeps or does I/O; the gateway's async call loop does (see
``RetryPlan`` for the loop's shape).
"""

from __future__ import annotations

from lockgate.resilience.backoff import Jitter, compute_backoff, retry_delay
from lockgate.resilience.balancer import Balancer, Candidate, InflightHandle, Lease, Strategy
from lockgate.resilience.breaker import (
    BreakerConfig,
    BreakerListener,
    BreakerState,
    CircuitBreaker,
    Permit,
    is_upstream_fault,
)
from lockgate.resilience.classify import (
    Provider,
    classify_upstream_failure,
    is_context_window_message,
    retry_hint,
    should_retry,
)
from lockgate.resilience.cooldown import Cooldown
from lockgate.resilience.deadline import TIMEOUT_HEADER, Deadline, Timeouts, parse_timeout_header
from lockgate.resilience.retry_after import parse_retry_after
from lockgate.resilience.retry_budget import RetryBudget
from lockgate.resilience.retry_plan import (
    Decision,
    Fallback,
    FallbackChains,
    GiveUp,
    GiveUpReason,
    Retry,
    RetryPlan,
)
from lockgate.resilience.retry_policy import RetryPolicy

__all__ = [
    "TIMEOUT_HEADER",
    "Balancer",
    "BreakerConfig",
    "BreakerListener",
    "BreakerState",
    "Candidate",
    "CircuitBreaker",
    "Cooldown",
    "Deadline",
    "Decision",
    "Fallback",
    "FallbackChains",
    "GiveUp",
    "GiveUpReason",
    "InflightHandle",
    "Jitter",
    "Lease",
    "Permit",
    "Provider",
    "Retry",
    "RetryBudget",
    "RetryPlan",
    "RetryPolicy",
    "Strategy",
    "Timeouts",
    "classify_upstream_failure",
    "compute_backoff",
    "is_context_window_message",
    "is_upstream_fault",
    "parse_retry_after",
    "parse_timeout_header",
    "retry_delay",
    "retry_hint",
    "should_retry",
]
