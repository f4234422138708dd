"""Per-target summaries and the flaky-case report of a run (pure)."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from lockgate.evals.runner import RunResult
from lockgate.evals.stats import Interval, wilson

__all__ = [
    "CaseSummary",
    "Flaky",
    "TargetSummary",
    "case_summaries",
    "flaky_cases",
    "run_exit_code",
    "summarize",
]


@dataclass(frozen=True, slots=True)
class TargetSummary:
    target: str
    runs: int
    passed: int
    failed: int
    errors: int
    #: over runs that did not error
    pass_rate: Interval
    mean_score: float | None
    cost_usd: float
    mean_latency_ms: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "runs": self.runs,
            "passed": self.passed,
            "failed": self.failed,
            "errors": self.errors,
            "pass_rate": None if math.isnan(self.pass_rate.estimate) else self.pass_rate.to_json(),
            "mean_score": self.mean_score,
            "cost_usd": round(self.cost_usd, 8),
            "mean_latency_ms": self.mean_latency_ms,
        }


def summarize(run: RunResult) -> list[TargetSummary]:
    out = []
    for name in run.targets:
        rows = run.for_target(name)
        passed = sum(r.status == "pass" for r in rows)
        failed = sum(r.status == "fail" for r in rows)
        scores = [s for r in rows if r.status != "error" and (s := r.score) is not None]
        lat = [r.answer.latency_ms for r in rows if r.answer is not None and not r.answer.cached]
        out.append(
            TargetSummary(
                target=name,
                runs=len(rows),
                passed=passed,
                failed=failed,
                errors=len(rows) - passed - failed,
                pass_rate=wilson(passed, passed + failed),
                mean_score=sum(scores) / len(scores) if scores else None,
                cost_usd=sum(r.cost_usd for r in rows),
                mean_latency_ms=sum(lat) / len(lat) if lat else None,
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class Flaky:
    target: str
    case_id: str
    passed: int
    failed: int
    errors: int

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "case_id": self.case_id,
            "passed": self.passed,
            "failed": self.failed,
            "errors": self.errors,
        }


def flaky_cases(run: RunResult) -> list[Flaky]:
    """Cases that both passed and failed across repeats (errors alone do not make a case flaky)."""
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for r in run.results:
        groups[(r.target, r.case_id)].append(r.status)
    out = []
    for (target, case_id), statuses in groups.items():
        p, f = statuses.count("pass"), statuses.count("fail")
        if p and f:
            out.append(Flaky(target, case_id, p, f, statuses.count("error")))
    return out


def run_exit_code(run: RunResult, min_pass_rate: float = 1.0) -> int:
    """0 every target at or above ``min_pass_rate``; 1 below it; 2 any run errored."""
    summaries = summarize(run)
    if any(s.errors for s in summaries):
        return 2
    for s in summaries:
        n = s.passed + s.failed
        if n and s.passed / n < min_pass_rate:
            return 1
    return 0


@dataclass(frozen=True, slots=True)
class CaseSummary:
    """One case of one target across its repeats, read back from a run's JSON results."""

    target: str
    case_id: str
    passed: int
    failed: int
    errors: int
    #: over repeats that did not error (Wilson 95 %)
    pass_rate: Interval
    mean_score: float | None
    #: the first failing repeat's reason (an assertion's or the error's)
    reason: str | None


def _reason(result: dict[str, Any]) -> str | None:
    if result.get("error"):
        return str(result["error"])
    for v in result.get("verdicts") or []:
        if isinstance(v, dict) and v.get("status") not in ("pass", None):
            return str(v.get("reason") or v.get("type") or v.get("status"))
    return None


def case_summaries(results: list[dict[str, Any]]) -> list[CaseSummary]:
    """Per (target, case) over the repeats of a stored run (``run_json``'s results)."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in results:
        groups[(str(r.get("target")), str(r.get("case_id")))].append(r)
    out = []
    for (target, case_id), rows in groups.items():
        statuses = [r.get("status") for r in rows]
        p, f = statuses.count("pass"), statuses.count("fail")
        scores = [float(r["score"]) for r in rows if r.get("score") is not None]
        reason = next((x for r in rows if r.get("status") != "pass" and (x := _reason(r))), None)
        out.append(
            CaseSummary(
                target=target,
                case_id=case_id,
                passed=p,
                failed=f,
                errors=len(rows) - p - f,
                pass_rate=wilson(p, p + f),
                mean_score=sum(scores) / len(scores) if scores else None,
                reason=reason,
            )
        )
    return out
