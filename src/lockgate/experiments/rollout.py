"""A canary rollout's state machine (pure): checks, steps, pass, fail, rollback.

At each analysis interval the canary (new version) is compared with the stable arm
(the label's current version) on the guard metrics.  A check with fewer than
``min_requests`` canary requests is inconclusive and changes nothing, unless its
errors already exceed the error guard over ``min_requests`` (then it fails).  A passed check
resets the failure count and moves to the next step (after the last step the rollout
succeeds and the label moves to the new version); ``failure_limit`` consecutive failed
checks roll it back (the label never moved, so the old version serves 100% at once).
Checks are scheduled at ``started + k * interval``, so a rollout whose first checks
fail is rolled back at ``started + failure_limit * interval``, within
``interval * (failure_limit + 1)`` even when a check runs one interval late.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from lockgate.experiments.spec import RolloutSpec

__all__ = ["ArmStats", "CheckResult", "RolloutState", "advance", "check", "start"]

Status = Literal["running", "succeeded", "rolled_back", "aborted"]
CheckResult = Literal["pass", "fail", "inconclusive"]
#: latency ratios are only judged when the P95s differ by more than this
P95_FLOOR_MS = 50.0


@dataclass(frozen=True, slots=True)
class ArmStats:
    requests: int = 0
    errors: int = 0
    p95_ms: float | None = None
    mean_score: float | None = None
    mean_judge: float | None = None
    cost_per_request: float = 0.0

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "errors": self.errors,
            "error_rate": self.error_rate,
            "p95_ms": self.p95_ms,
            "mean_score": self.mean_score,
            "mean_judge": self.mean_judge,
            "cost_per_request": self.cost_per_request,
        }


@dataclass(slots=True)
class RolloutState:
    status: Status
    from_version: int
    step: int
    started_at: float
    step_started_at: float
    next_check_at: float
    failures: int = 0
    checks: int = 0
    ended_at: float | None = None
    events: list[dict[str, Any]] = field(default_factory=list)

    def weight(self, spec: RolloutSpec) -> float:
        """Percent of the label's traffic the new version gets now."""
        if self.status == "running":
            return spec.steps[self.step]
        return 100.0 if self.status == "succeeded" else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "from_version": self.from_version,
            "step": self.step,
            "started_at": self.started_at,
            "step_started_at": self.step_started_at,
            "next_check_at": self.next_check_at,
            "failures": self.failures,
            "checks": self.checks,
            "ended_at": self.ended_at,
            "events": self.events,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RolloutState:
        return cls(**{k: data[k] for k in cls.__slots__ if k in data})


def start(spec: RolloutSpec, from_version: int, now: float) -> RolloutState:
    state = RolloutState(
        status="running",
        from_version=from_version,
        step=0,
        started_at=now,
        step_started_at=now,
        next_check_at=now + spec.interval_seconds,
    )
    state.events.append(_event(now, "start", state, spec, f"v{from_version} -> v{spec.to_version}"))
    return state


def check(spec: RolloutSpec, canary: ArmStats, stable: ArmStats) -> tuple[CheckResult, list[str]]:
    """Judge one interval's canary against the stable arm on every configured guard."""
    g = spec.guards
    if canary.requests < spec.min_requests:
        # Too few requests to judge, unless the errors seen already settle it: even if
        # every request still missing from min_requests succeeded, the rate would fail.
        limit = g.max_error_rate_increase
        base = stable.error_rate if stable.requests else 0.0
        if limit is not None and canary.errors / spec.min_requests - base > limit:
            return "fail", [f"{canary.errors} errors in {canary.requests} canary requests"]
        return "inconclusive", [f"{canary.requests} canary requests < {spec.min_requests}"]
    failed: list[str] = []
    if g.max_error_rate_increase is not None:
        base = stable.error_rate if stable.requests else 0.0
        if canary.error_rate - base > g.max_error_rate_increase:
            failed.append(f"error rate {canary.error_rate:.3f} vs {base:.3f}")
    if (
        g.max_p95_latency_ratio is not None
        and canary.p95_ms
        and stable.p95_ms
        and (
            canary.p95_ms - stable.p95_ms > P95_FLOOR_MS
            and canary.p95_ms / stable.p95_ms > g.max_p95_latency_ratio
        )
    ):
        failed.append(f"p95 {canary.p95_ms:.0f} ms vs {stable.p95_ms:.0f} ms")
    if g.min_feedback_delta is not None and None not in (canary.mean_score, stable.mean_score):
        delta = canary.mean_score - stable.mean_score  # type: ignore[operator]
        if delta < g.min_feedback_delta:
            failed.append(f"feedback delta {delta:.3f}")
    if g.min_judge_delta is not None and None not in (canary.mean_judge, stable.mean_judge):
        delta = canary.mean_judge - stable.mean_judge  # type: ignore[operator]
        if delta < g.min_judge_delta:
            failed.append(f"judge delta {delta:.3f}")
    if g.max_cost_ratio is not None and stable.cost_per_request > 0:
        ratio = canary.cost_per_request / stable.cost_per_request
        if ratio > g.max_cost_ratio:
            failed.append(f"cost ratio {ratio:.2f}")
    return ("fail" if failed else "pass"), failed


def _event(
    now: float, kind: str, state: RolloutState, spec: RolloutSpec, detail: str = ""
) -> dict[str, Any]:
    return {
        "at": now,
        "kind": kind,
        "step": state.step,
        "weight": state.weight(spec),
        "failures": state.failures,
        "detail": detail,
    }


def advance(
    spec: RolloutSpec,
    state: RolloutState,
    result: CheckResult,
    reasons: list[str],
    now: float,
    due: float,
) -> list[dict[str, Any]]:
    """Apply one check's result (made for the check due at ``due``); the new events."""
    events: list[dict[str, Any]] = []
    state.checks += 1
    detail = "; ".join(reasons)
    stamp = {"due": due}
    nxt = due + spec.interval_seconds
    state.next_check_at = nxt if nxt > now else now + spec.interval_seconds
    if result == "inconclusive":
        events.append({**_event(now, "inconclusive", state, spec, detail), **stamp})
    elif result == "pass":
        state.failures = 0
        events.append({**_event(now, "pass", state, spec, detail), **stamp})
        if state.step == len(spec.steps) - 1:
            state.status = "succeeded"
            state.ended_at = now
            events.append(_event(now, "promote", state, spec, f"label -> v{spec.to_version}"))
        else:
            state.step += 1
            state.step_started_at = now
            events.append(_event(now, "step", state, spec))
    else:
        state.failures += 1
        events.append({**_event(now, "fail", state, spec, detail), **stamp})
        if state.failures >= spec.failure_limit:
            state.status = "rolled_back"
            state.ended_at = now
            events.append({**_event(now, "rollback", state, spec, detail), **stamp})
    state.events.extend(events)
    return events


def abort(spec: RolloutSpec, state: RolloutState, now: float, who: str | None) -> dict[str, Any]:
    state.status = "aborted"
    state.ended_at = now
    event = _event(now, "abort", state, spec, f"by {who or 'unknown'}")
    state.events.append(event)
    return event
