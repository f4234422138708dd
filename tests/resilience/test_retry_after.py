"""Parsing retry-after (seconds, HTTP-date) and retry-after-ms."""

from __future__ import annotations

import email.utils

from lockgate.resilience import parse_retry_after

NOW = 1_800_000_000.0


def test_seconds() -> None:
    """Delta-seconds are read as a float."""
    assert parse_retry_after({"retry-after": "7"}, now=NOW) == 7.0
    assert parse_retry_after({"retry-after": " 1.5 "}, now=NOW) == 1.5


def test_milliseconds_win_over_seconds() -> None:
    """retry-after-ms is preferred, as in openai-python."""
    headers = {"retry-after-ms": "250", "retry-after": "9"}
    assert parse_retry_after(headers, now=NOW) == 0.25


def test_bad_milliseconds_fall_back_to_seconds() -> None:
    """An unreadable retry-after-ms does not hide a good retry-after."""
    assert parse_retry_after({"retry-after-ms": "soon", "retry-after": "4"}, now=NOW) == 4.0


def test_http_date_is_relative_to_now() -> None:
    """An HTTP-date becomes the seconds between the caller's now and that date."""
    date = email.utils.formatdate(NOW + 30, usegmt=True)
    assert parse_retry_after({"Retry-After": date}, now=NOW) == 30.0


def test_http_date_in_the_past_is_zero() -> None:
    """A date already passed means retry now."""
    date = email.utils.formatdate(NOW - 100, usegmt=True)
    assert parse_retry_after({"retry-after": date}, now=NOW) == 0.0


def test_header_names_are_case_insensitive() -> None:
    """Mixed-case header names in a plain dict are found."""
    assert parse_retry_after({"Retry-After-Ms": "1500"}, now=NOW) == 1.5


def test_absent_or_garbage_is_none() -> None:
    """Missing, negative, NaN or unparseable values give None."""
    assert parse_retry_after({}, now=NOW) is None
    assert parse_retry_after({"retry-after": "later"}, now=NOW) is None
    assert parse_retry_after({"retry-after": "-3"}, now=NOW) is None
    assert parse_retry_after({"retry-after": "nan"}, now=NOW) is None
    assert parse_retry_after({"retry-after-ms": "inf"}, now=NOW) is None
