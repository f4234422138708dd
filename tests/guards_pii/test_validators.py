"""Checksums and plausibility rules."""

from __future__ import annotations

import pytest

from lockgate.guards.pii.validators import (
    iban_ok,
    ipv4_ok,
    ipv6_ok,
    jwt_header_ok,
    luhn_ok,
    shannon_entropy,
    ssn_ok,
)


@pytest.mark.parametrize("number", ["4111111111111111", "378282246310005", "6011111111111117"])
def test_luhn_accepts_valid_numbers(number: str) -> None:
    """Well-known test card numbers pass the Luhn check."""
    assert luhn_ok(number)


@pytest.mark.parametrize("number", ["4111111111111112", "378282246310006", "1234567812345678"])
def test_luhn_rejects_one_digit_off(number: str) -> None:
    """Changing the check digit breaks the Luhn check."""
    assert not luhn_ok(number)


@pytest.mark.parametrize(
    "iban", ["GB82WEST12345698765432", "DE89370400440532013000", "fr1420041010050500013m02606"]
)
def test_iban_accepts_valid(iban: str) -> None:
    """Valid IBANs pass, in either case."""
    assert iban_ok(iban)


@pytest.mark.parametrize(
    "iban",
    ["GB82WEST12345698765433", "GB82WEST1234569876543", "XX82WEST12345698765432", "GBXXWEST1"],
)
def test_iban_rejects_bad_checksum_length_or_country(iban: str) -> None:
    """A wrong check digit, length or country code fails."""
    assert not iban_ok(iban)


@pytest.mark.parametrize(
    ("area", "group", "serial", "ok"),
    [
        ("123", "45", "6788", True),
        ("000", "12", "3456", False),
        ("666", "12", "3456", False),
        ("912", "12", "3456", False),
        ("123", "00", "4567", False),
        ("123", "45", "0000", False),
        ("078", "05", "1120", False),
    ],
)
def test_ssn_rules(area: str, group: str, serial: str, ok: bool) -> None:
    """SSA area/group/serial rules, including the voided advertising number."""
    assert ssn_ok(area, group, serial) is ok


@pytest.mark.parametrize(
    ("text", "ok"),
    [("192.168.0.1", True), ("255.255.255.255", True), ("999.1.1.1", False), ("1.2.3", False)],
)
def test_ipv4(text: str, ok: bool) -> None:
    """Octets must be 0-255 and there must be four."""
    assert ipv4_ok(text) is ok


def test_ipv4_rejects_leading_zeros() -> None:
    """Zero-padded octets are not written in addresses (they look like codes)."""
    assert not ipv4_ok("01.84.17.61")


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("2001:db8::8a2e:370:7334", True),
        ("fe80::1", True),
        ("1:2:3:4:5:6:7:8", True),
        ("12:20:39", False),
        ("2001:db8::g", False),
    ],
)
def test_ipv6(text: str, ok: bool) -> None:
    """Real IPv6 addresses parse; clock times and junk do not."""
    assert ipv6_ok(text) is ok


def test_jwt_header() -> None:
    """A header needs to be base64url JSON with an alg field."""
    assert jwt_header_ok("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9")
    assert not jwt_header_ok("eyJ0eXAiOiJKV1QifQ")  # {"typ":"JWT"}: no alg
    assert not jwt_header_ok("eyJ!!!")


def test_entropy() -> None:
    """Bits per character grow with the variety of characters."""
    assert shannon_entropy("") == 0.0
    assert shannon_entropy("aaaa") == 0.0
    assert shannon_entropy("abcd") == pytest.approx(2.0)
    assert shannon_entropy("ab" * 700) == pytest.approx(1.0)
