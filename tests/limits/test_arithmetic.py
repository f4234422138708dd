"""The pure arithmetic: meter drain, admission, waits, calendar periods, header formats."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lockgate.limits import (
    LimitRule,
    LimitState,
    current_period,
    format_duration,
    rules_from_spec,
)
from lockgate.limits import rate_limit_headers as headers
from lockgate.limits.algorithm import budget_admits, drained, gcra_admits, gcra_wait


def ts(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> float:
    """A UTC timestamp."""
    return datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp()


def test_meter_drains_at_the_rate() -> None:
    """60/minute drains one unit per second and never below zero."""
    assert drained(10.0, 100.0, 103.0, 60, 60) == 7.0
    assert drained(10.0, 100.0, 500.0, 60, 60) == 0.0


def test_meter_ignores_a_clock_that_runs_behind() -> None:
    """A replica whose clock lags the stored time sees no drain rather than a negative one."""
    assert drained(10.0, 100.0, 95.0, 60, 60) == 10.0


def test_admission_and_wait() -> None:
    """A full meter admits nothing; the wait is the time for the missing units to drain."""
    assert gcra_admits(59.0, 1.0, 60)
    assert not gcra_admits(60.0, 1.0, 60)
    assert not gcra_admits(60.0, 0.0, 60)  # zero cost still needs one free unit
    assert gcra_wait(60.0, 1.0, 60, 60) == pytest.approx(1.0)
    assert gcra_wait(50.0, 20.0, 60, 60) == pytest.approx(10.0)
    assert gcra_wait(0.0, 61.0, 60, 60) == 60  # can never fit: one full window


def test_budget_admission() -> None:
    """A budget admits an estimate that fits, and a zero estimate only while money is left."""
    assert budget_admits(0.5, 0.5, 1.0)
    assert not budget_admits(0.5, 0.6, 1.0)
    assert budget_admits(0.99, 0.0, 1.0)
    assert not budget_admits(1.0, 0.0, 1.0)


def test_calendar_periods_in_utc() -> None:
    """Days and months are UTC calendar periods, December rolling into January."""
    assert current_period(ts(2026, 11, 27, 23, 0), "day") == ("2026-11-27", 3600.0)
    assert current_period(ts(2026, 11, 30, 23, 0), "month") == ("2026-11", 3600.0)
    assert current_period(ts(2026, 12, 31, 23, 59), "month") == ("2026-12", 60.0)
    assert current_period(ts(2027, 1, 1), "month") == ("2027-01", 31 * 86400.0)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (0.0172, "18ms"),
        (1, "1s"),
        (1.5, "1.5s"),
        (59.9991, "60s"),
        (360, "6m0s"),
        (3723, "1h2m3s"),
        (86400, "24h0m0s"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    """Durations read like OpenAI's (Go) reset headers."""
    assert format_duration(seconds) == text


def test_headers_report_the_tightest_limit() -> None:
    """Of several request limits the one with fewest remaining is reported, per kind."""
    key = LimitRule.requests("key:a", "100/minute")
    team = LimitRule.requests("team:t", "1000/minute")
    tokens = LimitRule.tokens("key:a", "50000/minute")
    slots = LimitRule.concurrent("key:a", 2)
    states = [
        LimitState(key, 100, 40.0, 36.0),
        LimitState(team, 1000, 12.0, 59.3),
        LimitState(tokens, 50000, 49000.0, 1.2),
        LimitState(slots, 2, 1.0, 0.0),
    ]
    assert headers(states) == {
        "x-ratelimit-limit-requests": "1000",
        "x-ratelimit-remaining-requests": "12",
        "x-ratelimit-reset-requests": "59.3s",
        "x-ratelimit-limit-tokens": "50000",
        "x-ratelimit-remaining-tokens": "49000",
        "x-ratelimit-reset-tokens": "1.2s",
    }
    assert headers([], retry_after=11.2) == {"retry-after": "12", "retry-after-ms": "11200"}


def test_rules_validate() -> None:
    """Rules without the numbers their kind needs are refused at construction."""
    with pytest.raises(ValueError):
        LimitRule("key:a", "requests")
    with pytest.raises(ValueError):
        LimitRule("key:a", "spend", amount=1.0)
    with pytest.raises(ValueError):
        LimitRule.concurrent("key:a", -1)


def test_rules_from_spec() -> None:
    """A key's limits record turns into one rule per limit."""
    spec = {
        "requests": ["10/second", "1000/hour"],
        "tokens": "100000/minute",
        "concurrent": 5,
        "budget": {"day": 10, "month": 100.0},
    }
    assert rules_from_spec("key:k1", spec) == [
        LimitRule.requests("key:k1", "10/second"),
        LimitRule.requests("key:k1", "1000/hour"),
        LimitRule.tokens("key:k1", "100000/minute"),
        LimitRule.concurrent("key:k1", 5),
        LimitRule.spend("key:k1", 10.0, "day"),
        LimitRule.spend("key:k1", 100.0, "month"),
    ]
    assert rules_from_spec("key:k1", {}) == []


@pytest.mark.parametrize(
    "spec",
    [
        {"rpm": 100},
        {"requests": 100},
        {"concurrent": "5"},
        {"budget": {"week": 1.0}},
        {"budget": {"day": "ten"}},
    ],
)
def test_rules_from_spec_rejects_what_it_cannot_enforce(spec: dict[str, object]) -> None:
    """A limit that would not be enforced as written is an error, not ignored."""
    with pytest.raises(ValueError):
        rules_from_spec("key:k1", spec)
