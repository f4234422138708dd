"""Routing and resilience: pure cores driven by a caller's clock and rng.

Nothing here sleeps or does I/O.  Built once in the lifespan: one
:class:`CircuitBreaker` per deployment, one :class:`Balancer`, a tuple of
:class:`Candidate` per alias, a :class:`RetryBudget` per alias, the
:class:`FallbackChains`.  Per request, the gateway's async call loop looks like::

    now = clock()
    deadline = Deadline.for_request(now, default_s=cfg.timeout_s,
                                    header_value=headers.get(TIMEOUT_HEADER))
    plan = RetryPlan(alias, policy=policy, deadline=deadline, rng=rng, now=now,
                     chains=chains, budget=budgets)
    while True:
        cands = candidates[plan.alias]
        lease = balancer.acquire(cands, exclude=plan.tried, now=clock())
        if lease is None:
            decision = plan.on_unavailable(clock(),
                                           available_in=balancer.available_in(cands, clock()))
        else:
            plan.begin_attempt(lease.deployment)
            try:
                response = await provider.send(request, lease.deployment,
                                               timeouts.for_attempt(deadline, clock()))
            except GatewayError as error:   # HTTP failures mapped by classify_upstream_failure
                lease.failed(clock(), error)
                decision = plan.on_failure(error, clock(), can_switch=balancer.has_alternative(
                    cands, exclude=plan.tried, now=clock()))
            except BaseException:           # cancelled, client gone: frees a probe slot
                lease.release(clock())
                raise
            else:
                lease.succeeded(clock())
                return response
        match decision:
            case Retry(delay=delay):
                await asyncio.sleep(delay)
            case GiveUp(error=error):
                raise error
            case Fallback():
                pass                        # the plan already switched to the next alias
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
