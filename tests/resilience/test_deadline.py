"""Per-request deadlines, the timeout header and per-attempt timeouts."""

from __future__ import annotations

import pytest

from lockgate.errors import BadRequestError
from lockgate.resilience import Deadline, Timeouts, parse_timeout_header


def test_remaining_and_expired() -> None:
    """A deadline counts down on the caller's clock and expires at its instant."""
    d = Deadline.after(100.0, 30.0)
    assert d.total == 30.0
    assert d.remaining(110.0) == 20.0
    assert not d.expired(129.9)
    assert d.expired(130.0)
    assert d.remaining(200.0) == 0.0


def test_header_shortens_the_configured_budget() -> None:
    """x-lockgate-timeout below the default shortens the deadline."""
    d = Deadline.for_request(0.0, default_s=60.0, header_value="12.5")
    assert d.at == 12.5


def test_header_cannot_lengthen_the_configured_budget() -> None:
    """A client asking for more than the configured budget gets the configured budget."""
    d = Deadline.for_request(0.0, default_s=60.0, header_value="3600")
    assert d.at == 60.0


def test_absent_header_uses_the_default() -> None:
    """Without the header the configured budget applies."""
    assert Deadline.for_request(5.0, default_s=60.0).at == 65.0


@pytest.mark.parametrize("value", ["", "abc", "0", "-3", "nan", "inf"])
def test_bad_header_values_are_client_errors(value: str) -> None:
    """Anything but a positive finite number is a 400."""
    with pytest.raises(BadRequestError) as info:
        parse_timeout_header(value)
    assert info.value.param == "x-lockgate-timeout"


def test_timeouts_are_clamped_to_the_remaining_budget() -> None:
    """Each per-attempt timeout is min(configured, remaining); None becomes remaining."""
    t = Timeouts(connect=5.0, first_byte=60.0, idle=None, total=600.0)
    d = Deadline.after(0.0, 30.0)
    got = t.for_attempt(d, 10.0)
    assert got == Timeouts(connect=5.0, first_byte=20.0, idle=20.0, total=20.0)
