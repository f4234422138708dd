"""What to limit: one rule per (subject, kind); a request carries several subjects."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from lockgate.limits.rate import Rate, parse_rate

__all__ = ["BudgetPeriod", "LimitKind", "LimitRule", "rules_from_spec"]

LimitKind = Literal["requests", "tokens", "concurrent", "spend"]
BudgetPeriod = Literal["day", "month"]


@dataclass(frozen=True, slots=True)
class LimitRule:
    """One limit on one subject.

    ``subject`` is ``"<type>:<name>"``: ``"key:abc"``, ``"user:42"``, ``"team:a"``,
    ``"ip:1.2.3.4"``, ``"model:gpt-4o"``. ``rate`` applies to ``requests`` and ``tokens``;
    ``amount`` is the number of slots for ``concurrent`` and the USD budget for ``spend``;
    ``period`` is the calendar period (UTC) of a ``spend`` budget. Prefer the constructors,
    e.g. ``LimitRule.requests("key:abc", "100/minute")``.
    """

    subject: str
    kind: LimitKind
    rate: Rate | None = None
    amount: float = 0.0
    period: BudgetPeriod | None = None
    #: Storage key of the rule (for ``spend`` the calendar period is appended per request).
    key: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind in ("requests", "tokens"):
            if self.rate is None:
                raise ValueError(f"a {self.kind} limit needs a rate")
            key = f"{self.kind[0]}:{self.subject}:{self.rate.amount}/{self.rate.seconds}"
        elif self.kind == "concurrent":
            if self.amount < 0 or self.amount != int(self.amount):
                raise ValueError("a concurrent limit needs a whole number of slots")
            key = f"c:{self.subject}"
        else:
            if self.period not in ("day", "month") or self.amount < 0:
                raise ValueError("a spend limit needs a USD amount and a period (day or month)")
            key = f"s:{self.subject}:{self.period}"
        object.__setattr__(self, "key", key)

    @classmethod
    def requests(cls, subject: str, rate: str | Rate) -> LimitRule:
        """At most ``rate`` requests (e.g. ``"100/minute"``)."""
        return cls(subject, "requests", rate=parse_rate(rate) if isinstance(rate, str) else rate)

    @classmethod
    def tokens(cls, subject: str, rate: str | Rate) -> LimitRule:
        """At most ``rate`` tokens (prompt + completion, e.g. ``"100000/minute"``)."""
        return cls(subject, "tokens", rate=parse_rate(rate) if isinstance(rate, str) else rate)

    @classmethod
    def concurrent(cls, subject: str, slots: int) -> LimitRule:
        """At most ``slots`` requests in flight at once."""
        return cls(subject, "concurrent", amount=slots)

    @classmethod
    def spend(cls, subject: str, usd: float, period: BudgetPeriod) -> LimitRule:
        """At most ``usd`` dollars per calendar ``period`` (UTC)."""
        return cls(subject, "spend", amount=usd, period=period)

    @property
    def subject_type(self) -> str:
        return self.subject.partition(":")[0] if ":" in self.subject else "subject"

    @property
    def subject_name(self) -> str:
        return self.subject.partition(":")[2] if ":" in self.subject else self.subject

    def describe(self) -> str:
        """Human text of the limit: ``"100/hour requests"``, ``"5 concurrent requests"``."""
        if self.kind == "concurrent":
            return f"{int(self.amount)} concurrent requests"
        if self.kind == "spend":
            return f"${self.amount:.2f}/{self.period} spend"
        return f"{self.rate} {self.kind}"


def rules_from_spec(subject: str, spec: Mapping[str, Any]) -> list[LimitRule]:
    """Rules of one subject from its config or key record (JSON/YAML)::

        requests: 100/minute          # or a list: [10/second, 1000/hour]
        tokens: 100000/minute         # or a list
        concurrent: 5
        budget: {day: 10.0, month: 100.0}   # USD per calendar period (UTC)

    Unknown fields are an error rather than a limit silently not enforced.
    """
    unknown = set(spec) - {"requests", "tokens", "concurrent", "budget"}
    if unknown:
        raise ValueError(f"unknown limit fields for {subject}: {sorted(unknown)}")
    rules: list[LimitRule] = []
    for kind in ("requests", "tokens"):
        value = spec.get(kind)
        if value is None:
            continue
        rates = [value] if isinstance(value, str) else value
        if not isinstance(rates, list | tuple):
            raise ValueError(f"{subject} {kind}: expected a rate like '100/minute' or a list")
        for rate in rates:
            if not isinstance(rate, str):
                raise ValueError(f"{subject} {kind}: expected a rate like '100/minute'")
            if kind == "requests":
                rules.append(LimitRule.requests(subject, rate))
            else:
                rules.append(LimitRule.tokens(subject, rate))
    slots = spec.get("concurrent")
    if slots is not None:
        if not isinstance(slots, int) or isinstance(slots, bool):
            raise ValueError(f"{subject} concurrent: expected a whole number")
        rules.append(LimitRule.concurrent(subject, slots))
    budget = spec.get("budget") or {}
    if not isinstance(budget, Mapping) or set(budget) - {"day", "month"}:
        raise ValueError(f"{subject} budget: expected {{day: USD, month: USD}}")
    for period in ("day", "month"):
        usd = budget.get(period)
        if usd is not None:
            if not isinstance(usd, int | float) or isinstance(usd, bool):
                raise ValueError(f"{subject} budget {period}: expected a USD amount")
            rules.append(LimitRule.spend(subject, float(usd), period))
    return rules
