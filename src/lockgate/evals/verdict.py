"""Verdicts: one per assertion and one per case run.  ERROR is never FAIL.

A judge that cannot be reached, or answers in a shape we cannot read, says nothing
about the answer under test, so it makes the case ERROR (promptfoo#7077).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from lockgate.evals.answer import Answer

__all__ = ["CaseResult", "Status", "Verdict", "case_status"]

Status = Literal["pass", "fail", "error"]


@dataclass(frozen=True, slots=True)
class Verdict:
    type: str
    status: Status
    reason: str = ""
    #: graded assertions: a score in [0, 1]
    score: float | None = None
    #: what the judge call(s) cost
    cost_usd: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "status": self.status,
            "reason": self.reason,
            "score": self.score,
            "cost_usd": self.cost_usd,
        }


def case_status(verdicts: list[Verdict], call_error: str | None) -> Status:
    if call_error is not None or any(v.status == "error" for v in verdicts):
        return "error"
    if any(v.status == "fail" for v in verdicts):
        return "fail"
    return "pass"


@dataclass(slots=True)
class CaseResult:
    case_id: str
    target: str
    repeat: int
    status: Status
    messages: list[dict[str, Any]] = field(default_factory=list)
    answer: Answer | None = None
    verdicts: list[Verdict] = field(default_factory=list)
    error: str | None = None

    @property
    def score(self) -> float | None:
        """Mean of the graded assertions' scores (None when none was graded)."""
        scores = [v.score for v in self.verdicts if v.score is not None and v.status != "error"]
        return sum(scores) / len(scores) if scores else None

    @property
    def cost_usd(self) -> float:
        answer = self.answer.cost_usd if self.answer is not None and not self.answer.cached else 0.0
        return answer + sum(v.cost_usd for v in self.verdicts)

    def to_json(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id,
            "target": self.target,
            "repeat": self.repeat,
            "status": self.status,
            "score": self.score,
            "error": self.error,
            "messages": self.messages,
            "answer": self.answer.to_json() if self.answer is not None else None,
            "verdicts": [v.to_json() for v in self.verdicts],
        }
