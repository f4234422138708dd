"""Retry plan decisions: retry, fall back, or give up, and why."""

from __future__ import annotations

import random

from lockgate.errors import (
    BadRequestError,
    ContextWindowExceededError,
    UpstreamClientError,
    UpstreamError,
    UpstreamOverloadedError,
    UpstreamRateLimitedError,
)
from lockgate.resilience import (
    Deadline,
    Fallback,
    FallbackChains,
    GiveUp,
    Retry,
    RetryBudget,
    RetryPlan,
    RetryPolicy,
    classify_upstream_failure,
)

POLICY = RetryPolicy(max_attempts=3, backoff_base_s=0.5, backoff_cap_s=8.0, max_retry_after_s=60)
CHAINS = FallbackChains(
    fallbacks={"gpt": ["claude", "llama"]},
    context_window={"gpt": ["gpt-long"], "claude": ["claude-long"]},
)


def plan(
    *, seconds: float = 120.0, budget: RetryBudget | None = None, policy: RetryPolicy = POLICY
) -> RetryPlan:
    return RetryPlan(
        "gpt",
        policy=policy,
        deadline=Deadline.after(0.0, seconds),
        rng=random.Random(1),
        now=0.0,
        chains=CHAINS,
        budget=budget,
    )


def test_retryable_error_retries_with_backoff() -> None:
    """A 5xx on the first attempt retries the alias after a bounded backoff."""
    p = plan()
    p.begin_attempt("d1")
    decision = p.on_failure(UpstreamError("boom"), 1.0)
    assert isinstance(decision, Retry)
    assert 0.0 <= decision.delay <= 0.5
    assert p.tried == {"d1"}


def test_retry_after_is_waited_when_no_other_deployment() -> None:
    """A 429 with retry-after on the only deployment waits exactly that long."""
    p = plan()
    p.begin_attempt("d1")
    decision = p.on_failure(UpstreamRateLimitedError("429", retry_after=7.0), 1.0)
    assert decision == Retry(7.0)


def test_retry_after_is_not_waited_when_switching_deployment() -> None:
    """With another deployment available only the short backoff applies."""
    p = plan()
    p.begin_attempt("d1")
    decision = p.on_failure(UpstreamRateLimitedError("429", retry_after=7.0), 1.0, can_switch=True)
    assert isinstance(decision, Retry)
    assert decision.delay <= 0.5


def test_retry_after_above_the_cap_falls_back_at_once() -> None:
    """A 120 s retry-after is not waited: the next alias in the chain takes over."""
    p = plan()
    p.begin_attempt("d1")
    decision = p.on_failure(UpstreamRateLimitedError("429", retry_after=120.0), 1.0)
    assert decision == Fallback("claude", "retry_after_too_long")
    assert p.alias == "claude"
    assert (p.attempt, p.tried) == (0, set())


def test_attempts_exhausted_then_fallback_chain_then_give_up() -> None:
    """Each alias gets max_attempts; the chain is walked in order; the last error is reported."""
    p = plan()
    decisions = []
    for _ in range(20):
        p.begin_attempt(f"{p.alias}-d")
        decision = p.on_failure(UpstreamOverloadedError("busy"), 1.0)
        decisions.append(decision)
        if isinstance(decision, GiveUp):
            break
    kinds = [type(d).__name__ for d in decisions]
    assert kinds == ["Retry", "Retry", "Fallback"] * 2 + ["Retry", "Retry", "GiveUp"]
    assert [d.alias for d in decisions if isinstance(d, Fallback)] == ["claude", "llama"]
    last = decisions[-1]
    assert isinstance(last, GiveUp)
    assert last.reason == "attempts_exhausted"
    assert isinstance(last.error, UpstreamOverloadedError)
    assert p.total_attempts == 9
    assert p.visited == ["gpt", "claude", "llama"]


def test_client_rejection_gives_up_without_fallback() -> None:
    """A 400 the provider rejected is reported at once, no retry, no fallback."""
    p = plan()
    p.begin_attempt("d1")
    err = UpstreamClientError("bad temperature", upstream_status=400)
    assert p.on_failure(err, 1.0) == GiveUp(err, "not_retryable")
    p2 = plan()
    bad = BadRequestError("bad")
    assert p2.on_failure(bad, 1.0) == GiveUp(bad, "not_retryable")


def test_context_window_uses_only_the_context_chain() -> None:
    """Context-length errors go to context_window_fallbacks, never the ordinary chain."""
    p = plan()
    p.begin_attempt("d1")
    err = ContextWindowExceededError("too long")
    assert p.on_failure(err, 1.0) == Fallback("gpt-long", "context_window")
    p.begin_attempt("d2")
    assert p.on_failure(err, 2.0) == GiveUp(err, "not_retryable")


def test_context_window_without_chain_gives_up() -> None:
    """Without a context-window fallback the error is reported to the client."""
    p = RetryPlan(
        "solo", policy=POLICY, deadline=Deadline.after(0.0, 60.0), rng=random.Random(), now=0.0
    )
    err = ContextWindowExceededError("too long")
    assert p.on_failure(err, 1.0) == GiveUp(err, "not_retryable")


def test_x_should_retry_false_gives_up() -> None:
    """The provider's x-should-retry: false stops retries of a 503."""
    p = plan()
    p.begin_attempt("d1")
    err = classify_upstream_failure(503, {"x-should-retry": "false"}, b"", "openai", now=0.0)
    assert p.on_failure(err, 1.0) == GiveUp(err, "not_retryable")


def test_exhausted_budget_falls_back_instead_of_retrying() -> None:
    """With the retry budget spent the alias is not retried; the chain is used."""
    budget = RetryBudget(ratio=0.0, min_per_second=0.1, window_s=10.0)
    assert budget.try_spend_retry(0.0)
    p = plan(budget=budget)
    p.begin_attempt("d1")
    decision = p.on_failure(UpstreamError("boom"), 1.0)
    assert decision == Fallback("claude", "budget_exhausted")


def test_per_alias_budgets_record_each_alias_request() -> None:
    """A mapping of budgets counts the request on every alias the plan visits."""
    budgets = {"gpt": RetryBudget(), "claude": RetryBudget()}
    p = RetryPlan(
        "gpt",
        policy=RetryPolicy(max_attempts=1),
        deadline=Deadline.after(0.0, 60.0),
        rng=random.Random(),
        now=0.0,
        chains=CHAINS,
        budget=budgets,
    )
    p.begin_attempt("d1")
    assert p.on_failure(UpstreamError("boom"), 1.0) == Fallback("claude", "attempts_exhausted")
    assert budgets["gpt"].snapshot(1.0)["requests"] == 1
    assert budgets["claude"].snapshot(1.0)["requests"] == 1


def test_delay_beyond_the_deadline_falls_back_or_gives_up() -> None:
    """A wait longer than the time left is not taken."""
    p = plan(seconds=5.0)
    p.begin_attempt("d1")
    decision = p.on_failure(UpstreamRateLimitedError("429", retry_after=10.0), 1.0)
    assert decision == Fallback("claude", "deadline")


def test_expired_deadline_gives_up() -> None:
    """Once the deadline passed nothing more is tried."""
    p = plan(seconds=5.0)
    p.begin_attempt("d1")
    err = UpstreamError("boom")
    assert p.on_failure(err, 5.0) == GiveUp(err, "deadline")


def test_no_deployment_available_falls_back_then_gives_up_with_a_wait() -> None:
    """With every deployment open the chain is tried, then a 503 with retry-after is raised."""
    p = RetryPlan(
        "solo", policy=POLICY, deadline=Deadline.after(0.0, 60.0), rng=random.Random(), now=0.0
    )
    decision = p.on_unavailable(1.0, available_in=12.0)
    assert isinstance(decision, GiveUp)
    assert decision.reason == "no_deployment"
    assert isinstance(decision.error, UpstreamOverloadedError)
    assert decision.error.code == "no_available_deployment"
    assert decision.error.retry_after == 12.0
    p2 = plan()
    assert p2.on_unavailable(1.0) == Fallback("claude", "no_deployment")


def test_no_deployment_after_a_failure_reports_that_failure() -> None:
    """If attempts were made, giving up reports the last upstream error, not a generic one."""
    p = RetryPlan(
        "solo", policy=POLICY, deadline=Deadline.after(0.0, 60.0), rng=random.Random(), now=0.0
    )
    p.begin_attempt("d1")
    err = UpstreamError("boom")
    assert isinstance(p.on_failure(err, 1.0), Retry)
    assert p.on_unavailable(2.0) == GiveUp(err, "no_deployment")


def test_cooling_down_after_a_429_is_waited_out() -> None:
    """After a bare 429 the only deployment cools down; the plan waits for it once."""
    p = RetryPlan(
        "solo", policy=POLICY, deadline=Deadline.after(0.0, 60.0), rng=random.Random(), now=0.0
    )
    p.begin_attempt("d1")
    assert isinstance(p.on_failure(UpstreamRateLimitedError("429"), 1.0), Retry)
    assert p.on_unavailable(1.3, available_in=4.7) == Retry(4.7)


def test_cooling_down_after_a_503_with_retry_after_is_waited_out() -> None:
    """A 503 carrying Retry-After cools the deployment down for that long; when the retry
    wakes a hair early (the loop's timers round), the rest of the cool-down is waited for
    instead of giving up with the 503."""
    p = RetryPlan(
        "solo", policy=POLICY, deadline=Deadline.after(0.0, 60.0), rng=random.Random(), now=0.0
    )
    p.begin_attempt("d1")
    err = UpstreamOverloadedError("503", retry_after=1.0)
    assert p.on_failure(err, 1.0) == Retry(1.0)
    assert p.on_unavailable(1.9995, available_in=0.0005) == Retry(0.0005)


def test_open_breaker_mid_request_is_not_waited_for() -> None:
    """When a 5xx opened the breaker, the plan does not sit out the open period."""
    p = RetryPlan(
        "solo", policy=POLICY, deadline=Deadline.after(0.0, 60.0), rng=random.Random(), now=0.0
    )
    p.begin_attempt("d1")
    err = UpstreamError("boom")
    p.on_failure(err, 1.0)
    assert p.on_unavailable(1.3, available_in=5.0) == GiveUp(err, "no_deployment")


def test_cooldown_longer_than_the_patience_is_not_waited() -> None:
    """A cool-down beyond max_retry_after_s gives up with the 429 (and its retry-after)."""
    p = RetryPlan(
        "solo", policy=POLICY, deadline=Deadline.after(0.0, 600.0), rng=random.Random(), now=0.0
    )
    p.begin_attempt("d1")
    err = UpstreamRateLimitedError("429", retry_after=3.0)
    p.on_failure(err, 1.0)
    assert p.on_unavailable(1.0, available_in=90.0) == GiveUp(err, "no_deployment")
