"""Rate values parsed from strings."""

from __future__ import annotations

import pytest

from lockgate.limits import Rate, parse_rate


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("100/minute", Rate(100, 60)),
        ("10/second", Rate(10, 1)),
        ("5000/hour", Rate(5000, 3600)),
        ("100000/day", Rate(100000, 86400)),
        ("60/min", Rate(60, 60)),
        ("7/hrs", Rate(7, 3600)),
        ("10 per second", Rate(10, 1)),
        ("500/5 minutes", Rate(500, 300)),
        ("1000/30s", Rate(1000, 30)),
        (" 3 / Days ", Rate(3, 86400)),
    ],
)
def test_parse_rate(text: str, rate: Rate) -> None:
    """Common spellings parse to amount and window seconds."""
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["", "100", "minute", "-1/minute", "5/ms", "5/fortnight", "1.5/s"])
def test_parse_rate_rejects_garbage(text: str) -> None:
    """Anything that is not a whole amount per a known unit is an error, not a guess."""
    with pytest.raises(ValueError):
        parse_rate(text)


@pytest.mark.parametrize(
    ("rate", "text"),
    [(Rate(100, 60), "100/minute"), (Rate(500, 300), "500/5 minutes"), (Rate(9, 45), "9/45s")],
)
def test_rate_str_round_trips(rate: Rate, text: str) -> None:
    """A rate prints in a form that parses back to itself."""
    assert str(rate) == text
    assert parse_rate(str(rate)) == rate


def test_rate_rejects_zero_window() -> None:
    """A window of zero seconds is meaningless."""
    with pytest.raises(ValueError):
        Rate(1, 0)
