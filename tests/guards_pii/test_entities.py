"""Personal-data detectors: each type found, near misses left alone."""

from __future__ import annotations

import itertools

import pytest

from lockgate.guards.pii import PiiScanner


@pytest.fixture(scope="module")
def scanner() -> PiiScanner:
    """One scanner for the module: compiling is the expensive part."""
    return PiiScanner()


def found(scanner: PiiScanner, text: str) -> list[tuple[str, str]]:
    return [(f.type, f.value) for f in scanner.find(text)]


@pytest.mark.parametrize(
    ("text", "type_", "value"),
    [
        ("mail ann.lee+tag@mail.example.co.uk today", "EMAIL", "ann.lee+tag@mail.example.co.uk"),
        ("card 4111 1111 1111 1111 expires", "CREDIT_CARD", "4111 1111 1111 1111"),
        ("card 4111-1111-1111-1111", "CREDIT_CARD", "4111-1111-1111-1111"),
        ("amex 378282246310005", "CREDIT_CARD", "378282246310005"),
        ("my credit card number is 675984103431?", "CREDIT_CARD", "675984103431"),
        ("IBAN GB82 WEST 1234 5698 7654 32 thanks", "IBAN", "GB82 WEST 1234 5698 7654 32"),
        ("my iban is de89370400440532013000", "IBAN", "de89370400440532013000"),
        ("Here's my SSN: 123-45-6788", "SSN", "123-45-6788"),
        ("social security number 123 45 6788", "SSN", "123 45 6788"),
        ("blocked address 41.173.96.26 again", "IP", "41.173.96.26"),
        ("|86.121.97.248|", "IP", "86.121.97.248"),
        ("from 2001:db8::8a2e:370:7334 today", "IP", "2001:db8::8a2e:370:7334"),
    ],
)
def test_finds_and_validates(scanner: PiiScanner, text: str, type_: str, value: str) -> None:
    """The entity is found with exactly its own span."""
    assert found(scanner, text) == [(type_, value)]


@pytest.mark.parametrize(
    "text",
    [
        "card 4111 1111 1111 1112",  # bad Luhn
        "order 1234567812345670 shipped",  # Luhn-valid but no card issuer prefix
        "IBAN GB82 WEST 1234 5698 7654 33",  # bad mod-97
        "SSN 000-12-3456",
        "SSN 666-12-3456",
        "SSN 912-12-3456",
        "SSN 123-00-4567",
        "ping 999.1.1.1 now",
        "version 1.2.3.4 released",
        "at 12:20:39 sharp",
        "use std::vector here",
        "not an email: user@localhost or @handle",
        "my driver's license number is 2270-66-1551",
        "My driver's license number is 6940579",
    ],
)
def test_near_misses_are_rejected(scanner: PiiScanner, text: str) -> None:
    """Checksum failures, invalid ranges and look-alikes produce no finding."""
    assert found(scanner, text) == []


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("call +1 (555) 123-4567 today", "+1 (555) 123-4567"),
        ("They're not answering at 780-999-2181", "780-999-2181"),
        ("Fax: 345-899-3560x4587", "345-899-3560x4587"),
        ("Desk: +447700 921 916", "+447700 921 916"),
        ("+46 (0)8 928 571 38 fax", "+46 (0)8 928 571 38"),
        ("Phone: 0490 75 40 81", "0490 75 40 81"),
        ("Can someone call me on 01.84.17.61.18?", "01.84.17.61.18"),
        ("Phone:\n467 3395\n", "467 3395"),
        ("Can someone call me on 9472 7916? I have", "9472 7916"),
        ("416 60 039 office", "416 60 039"),
        ("(37) 788-063-Office", "(37) 788-063"),
        ("Mobile: +(371) 26018159", "+(371) 26018159"),
        ("Tel: +44(0)1134960824", "+44(0)1134960824"),
        ("Phone: 30/166 1318", "30/166 1318"),
        ("Ph: 9487.5749", "9487.5749"),
        ("001-518-640-0854 mobile", "001-518-640-0854"),
    ],
)
def test_phone_formats(scanner: PiiScanner, text: str, value: str) -> None:
    """International, North-American and European spellings are found."""
    assert found(scanner, text) == [("PHONE", value)]


@pytest.mark.parametrize(
    "text",
    [
        "When: 2000-04-16 11:34:35",
        "She was born on 7/30/1964.",
        "ZIP: 75534-030",
        "3747 3911 fourth avenue suite 112",
        "I'd like to call a taxi to 124 67 Devon Street",
        "Quinta de São Tiago 3610-114 in its mission",
        "release 10.4.2 build 20231005",
        "ISBN 978-3-16-148410-0",
        "order number 4402 1180 77",
        "call about my account 0973-41-5915",
        "The price is $1234.56 or 1,234,567 units",
        "x**4 + 57294385*x**3 + 12345678.0",
        r"r'$x \mapsto \text{0.5} + \text{0.14285714}'",
        "Per RFC 5891 section 4.2.3.1 labels",
        "2**45 = 35184372088832",
    ],
)
def test_phone_false_positives(scanner: PiiScanner, text: str) -> None:
    """Dates, ZIP codes, house numbers, versions and order numbers are not phones."""
    assert found(scanner, text) == []


def test_iban_beats_card_inside_it(scanner: PiiScanner) -> None:
    """A Luhn-valid run inside a valid IBAN does not split it."""
    text = "PL91 6146 1003 3076 6619 3451 4506"
    assert found(scanner, text) == [("IBAN", text)]


def test_findings_sorted_and_disjoint(scanner: PiiScanner) -> None:
    """Several entities come back in order, never overlapping."""
    text = "a@b.io, 4111111111111111, 10.0.0.1, a@b.io"
    result = scanner.find(text)
    assert [f.type for f in result] == ["EMAIL", "CREDIT_CARD", "IP", "EMAIL"]
    assert all(a.end <= b.start for a, b in itertools.pairwise(result))
    assert all(text[f.start : f.end] == f.value for f in result)


def test_email_after_leading_at(scanner: PiiScanner) -> None:
    """An "@" at the very start does not hide later addresses."""
    assert found(scanner, "@team: write to ann@example.org") == [("EMAIL", "ann@example.org")]


def test_type_filter() -> None:
    """A scanner built for some types ignores the others."""
    only = PiiScanner(types=["EMAIL"])
    assert [f.type for f in only.find("a@b.io 10.0.0.1")] == ["EMAIL"]


def test_unknown_type_is_an_error() -> None:
    """A misspelt type fails at construction, not silently."""
    with pytest.raises(ValueError, match="EMIAL"):
        PiiScanner(types=["EMIAL"])


@pytest.mark.parametrize(
    ("text", "value"),
    [
        # how the IBANs python-stdnum's author found online are printed
        ("BE 68 5390 0754 7034    JVBABE22", "BE 68 5390 0754 7034"),
        ("IBAN: ES10 0075 0080 11 0600658108.", "ES10 0075 0080 11 0600658108"),
        ("konto NO07.8380.08.06006 i banken", "NO07.8380.08.06006"),
        ("pay to ES15-0049-1806-9121-1186-9374 now", "ES15-0049-1806-9121-1186-9374"),
    ],
)
def test_iban_national_printings(scanner: PiiScanner, text: str, value: str) -> None:
    """A country code set apart and national groupings of an all-digit account part."""
    assert found(scanner, text) == [("IBAN", value)]


def test_iban_grouping_stays_strict_for_letters(scanner: PiiScanner) -> None:
    """An account part with letters must group by four: "GB82 WE ST..." is no IBAN."""
    assert found(scanner, "GB82 WE ST12 3456 9876 5432") == []


def test_bare_mastercard_stands_alone(scanner: PiiScanner) -> None:
    """A 16-digit Mastercard needs no word like "card" near it, as Visa does not; a word
    naming another number right before it ("Tracking") still vetoes a bare one."""
    assert found(scanner, "5555555555554444") == [("CREDIT_CARD", "5555555555554444")]
    assert found(scanner, "2223003122003222") == [("CREDIT_CARD", "2223003122003222")]
    assert found(scanner, "Messina (ME). Tracking 2657134798647748.") == []
    assert found(scanner, "Card: 2657134798647748") == [("CREDIT_CARD", "2657134798647748")]


def test_email_wrapped_at_a_hyphen(scanner: PiiScanner) -> None:
    """An address a changelog wrapped after a hyphen is found whole."""
    text = "Maintainer: Debian Perl Group <pkg-perl-\n    maintainers@lists.alioth.debian.org>"
    value = "pkg-perl-\n    maintainers@lists.alioth.debian.org"
    assert found(scanner, text) == [("EMAIL", value)]
    assert found(scanner, "re-\nsend to team@x.org") == [("EMAIL", "team@x.org")]


@pytest.mark.parametrize(
    "text",
    [
        "  * Drop the work around for JDK 8211105.",
        "software-properties (0.99.28.1) kinetic; urgency=medium",
    ],
)
def test_changelog_look_alikes(scanner: PiiScanner, text: str) -> None:
    """A bug number a clause after "work", a 0.x.y.z version: no phone, no IP."""
    assert found(scanner, text) == []


def test_near_words_still_count_next_to_the_number(scanner: PiiScanner) -> None:
    """ "work" right before a number still names a phone; an address word an IP."""
    assert found(scanner, "work: 8211105") == [("PHONE", "8211105")]
    assert found(scanner, "a packet from 0.99.28.1") == [("IP", "0.99.28.1")]
