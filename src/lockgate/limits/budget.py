"""Calendar periods (UTC) of spend budgets: which period ``now`` falls in and when it ends."""

from __future__ import annotations

from datetime import UTC, datetime

from lockgate.limits.rules import BudgetPeriod

__all__ = ["current_period"]

_DAY = 86400


def current_period(now: float, period: BudgetPeriod) -> tuple[str, float]:
    """``(period id, seconds until the period ends)``: ``("2026-11-27", 3600.0)``.

    Periods are calendar days or months in UTC, so every replica agrees on the boundary
    whatever its local time zone.
    """
    if period == "day":
        start = now - now % _DAY
        day = datetime.fromtimestamp(start, UTC)
        return day.strftime("%Y-%m-%d"), start + _DAY - now
    moment = datetime.fromtimestamp(now, UTC)
    if moment.month == 12:
        end = datetime(moment.year + 1, 1, 1, tzinfo=UTC)
    else:
        end = datetime(moment.year, moment.month + 1, 1, tzinfo=UTC)
    return moment.strftime("%Y-%m"), end.timestamp() - now
