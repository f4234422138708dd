"""A rate: an amount per a window of seconds, parsed from strings like ``"100/minute"``."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Rate", "parse_rate"]

_UNITS: dict[str, int] = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hr": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
}
_NAMES: dict[int, str] = {1: "second", 60: "minute", 3600: "hour", 86400: "day"}
# "100/minute", "60/min", "10 per second", "100/5 minutes", "1000/30s"
_PATTERN = re.compile(r"^\s*(\d+)\s*(?:/|per)\s*(\d*)\s*([a-z]+)\s*$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Rate:
    """``amount`` units allowed per ``seconds`` (a sliding window, see ``algorithm``)."""

    amount: int
    seconds: int

    def __post_init__(self) -> None:
        if self.amount < 0 or self.seconds <= 0:
            raise ValueError(f"invalid rate {self.amount}/{self.seconds}s")

    def __str__(self) -> str:
        name = _NAMES.get(self.seconds)
        if name is not None:
            return f"{self.amount}/{name}"
        for unit in (86400, 3600, 60):
            if self.seconds % unit == 0:
                return f"{self.amount}/{self.seconds // unit} {_NAMES[unit]}s"
        return f"{self.amount}/{self.seconds}s"


def parse_rate(text: str) -> Rate:
    """Parse ``"100/minute"``, ``"60/min"``, ``"10 per second"``, ``"500/5 minutes"``."""
    match = _PATTERN.match(text)
    if match is None:
        raise ValueError(f"not a rate: {text!r} (expected e.g. '100/minute')")
    amount, multiple, unit = match.groups()
    unit = unit.lower()
    unit_seconds = _UNITS.get(unit)
    if unit_seconds is None and len(unit) > 2 and unit.endswith("s"):
        unit_seconds = _UNITS.get(unit[:-1])  # plurals; "ms" must not read as minutes
    if unit_seconds is None:
        raise ValueError(f"unknown time unit {unit!r} in rate {text!r}")
    return Rate(int(amount), (int(multiple) if multiple else 1) * unit_seconds)
