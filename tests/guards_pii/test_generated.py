"""Seeded random entities: valid ones are found in context, corrupted ones are not."""

from __future__ import annotations

import random
import string

import pytest

from lockgate.guards.pii import PiiScanner
from lockgate.guards.pii.validators import IBAN_LENGTHS

ROUNDS = 200


@pytest.fixture(scope="module")
def scanner() -> PiiScanner:
    """One scanner for the module."""
    return PiiScanner()


def luhn_complete(rng: random.Random, prefix: str, length: int) -> str:
    body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    for check in string.digits:
        digits = body + check
        total = sum(
            (d * 2 - 9 if d * 2 > 9 else d * 2) if i % 2 == len(digits) % 2 else d
            for i, d in enumerate(map(int, digits))
        )
        if total % 10 == 0:
            return digits
    raise AssertionError("unreachable")


def iban(rng: random.Random, country: str) -> str:
    bban = "".join(
        rng.choice(string.digits + string.ascii_uppercase) for _ in range(IBAN_LENGTHS[country] - 4)
    )
    number = int("".join(str(int(c, 36)) for c in bban + country + "00"))
    return f"{country}{98 - number % 97:02d}{bban}"


def types_at(scanner: PiiScanner, text: str, value: str) -> list[str]:
    start = text.index(value)
    return [f.type for f in scanner.find(text) if f.start <= start and f.end >= start + len(value)]


def test_generated_cards(scanner: PiiScanner) -> None:
    """Luhn-valid numbers of the major issuers are found; a changed check digit is not."""
    rng = random.Random(1)
    for _ in range(ROUNDS):
        prefix, length = rng.choice([("4", 16), ("51", 16), ("2221", 16), ("37", 15), ("6011", 16)])
        card = luhn_complete(rng, prefix, length)
        text = f"My card {card} is expiring this month."
        assert types_at(scanner, text, card) == ["CREDIT_CARD"], card
        bad = card[:-1] + str((int(card[-1]) + 1) % 10)
        assert "CREDIT_CARD" not in types_at(scanner, f"My card {bad} is expiring", bad), bad


def test_generated_ibans(scanner: PiiScanner) -> None:
    """IBANs of random countries are found plain and grouped; a typo is not."""
    rng = random.Random(2)
    countries = sorted(IBAN_LENGTHS)
    for _ in range(ROUNDS):
        value = iban(rng, rng.choice(countries))
        grouped = " ".join(value[i : i + 4] for i in range(0, len(value), 4))
        for shown in (value, grouped):
            text = f"transfer from {shown} to other bank accounts"
            assert types_at(scanner, text, shown) == ["IBAN"], shown
        typo = value[:-1] + ("0" if value[-1] != "0" else "1")
        assert "IBAN" not in types_at(scanner, f"My IBAN is {typo}", typo), typo


def test_generated_ssns_and_ips(scanner: PiiScanner) -> None:
    """Valid SSNs and IPv4 addresses are found; out-of-range ones are not."""
    rng = random.Random(3)
    for _ in range(ROUNDS):
        ssn = f"{rng.randint(1, 665):03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"
        assert types_at(scanner, f"Here's my SSN: {ssn}", ssn) == ["SSN"], ssn
        bad = f"{rng.randint(900, 999)}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"
        assert types_at(scanner, f"Here's my SSN: {bad}", bad) == [], bad
        ip = ".".join(str(rng.randint(10, 255)) for _ in range(4))
        assert types_at(scanner, f"keep getting address {ip} blocked", ip) == ["IP"], ip
        far = f"{rng.randint(256, 999)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.1"
        assert types_at(scanner, f"keep getting address {far} blocked", far) == [], far


def test_generated_phones(scanner: PiiScanner) -> None:
    """NANP numbers in their usual spellings are found after usual phrases."""
    rng = random.Random(4)
    phrases = ["Please call me at {}", "They're not answering at {}", "Fax: {}", "{} mobile"]
    for _ in range(ROUNDS):
        a, b, c = rng.randint(201, 989), rng.randint(200, 999), rng.randint(0, 9999)
        number = rng.choice([f"({a}) {b}-{c:04d}", f"{a}-{b}-{c:04d}", f"{a}.{b}.{c:04d}"])
        text = rng.choice(phrases).format(number)
        assert types_at(scanner, text, number) == ["PHONE"], text
