"""Checksums and plausibility rules that turn pattern matches into findings.

Each function takes the matched text (separators allowed where noted) and answers
whether it is a real instance of the entity, so that random digit runs, dates and
typos do not get redacted.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import math
import re
from collections import Counter
from itertools import pairwise

import orjson

__all__ = [
    "IBAN_LENGTHS",
    "iban_ok",
    "ipv4_ok",
    "ipv6_ok",
    "jwt_header_ok",
    "luhn_ok",
    "placeholder_like",
    "shannon_entropy",
    "ssn_ok",
]

# ISO 13616 registry lengths; a candidate must have exactly its country's length.
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22,
    "BH": 22, "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24,
    "DE": 22, "DJ": 27, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18,
    "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27,
    "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27,
    "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20, "MR": 27,
    "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24, "PL": 28,
    "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24, "SC": 31,
    "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}  # fmt: skip


def luhn_ok(digits: str) -> bool:
    """Whether a string of decimal digits passes the Luhn (mod 10) check."""
    total = 0
    parity = len(digits) % 2
    for i, ch in enumerate(digits):
        d = ord(ch) - 48
        if i % 2 == parity:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def iban_ok(compact: str) -> bool:
    """Whether an IBAN without spaces has its country's length and a valid mod-97 check."""
    iban = compact.upper()
    if IBAN_LENGTHS.get(iban[:2]) != len(iban) or not iban[2:4].isdigit():
        return False
    rearranged = iban[4:] + iban[:4]
    try:
        number = int("".join(str(int(ch, 36)) for ch in rearranged))
    except ValueError:
        return False
    return number % 97 == 1


def ssn_ok(area: str, group: str, serial: str) -> bool:
    """US SSA rules: area not 000, 666 or 9xx; group not 00; serial not 0000."""
    if area in ("000", "666") or area[0] == "9":
        return False
    if group == "00" or serial == "0000":
        return False
    # Numbers the SSA voided after they were printed in advertising.
    return f"{area}{group}{serial}" not in ("078051120", "219099999", "123456789")


def ipv4_ok(text: str) -> bool:
    """Dotted quad with every octet 0-255 and no leading zeros."""
    parts = text.split(".")
    if len(parts) != 4:
        return False
    for part in parts:
        if not part.isdigit() or int(part) > 255 or (len(part) > 1 and part[0] == "0"):
            return False
    return True


def ipv6_ok(text: str) -> bool:
    """A parseable IPv6 address that is not a clock time or a C++ scope operator."""
    if text.count(":") < 2:
        return False
    groups = [g for g in text.split(":") if g]
    if "::" not in text and text.count(":") != 7 and "." not in text:
        return False
    if len(groups) < 2 or not any(ch.isdigit() for ch in text):
        return False
    # Python/numpy slices ("1::2", "10::20") are short and purely decimal.
    if "::" in text and sum(len(g) for g in groups) < 4:
        return False
    if "::" in text and len(groups) == 2 and all(g.isdigit() for g in groups):
        return False
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def jwt_header_ok(segment: str) -> bool:
    """Whether a base64url segment decodes to a JSON object carrying ``alg``."""
    padded = segment + "=" * (-len(segment) % 4)
    try:
        header = orjson.loads(base64.urlsafe_b64decode(padded))
    except (binascii.Error, ValueError):
        return False
    return isinstance(header, dict) and "alg" in header


# c * log2(c) for the counts of short strings: entropy without a Python-level loop.
_C_LOG_C: tuple[float, ...] = (0.0, *(c * math.log2(c) for c in range(1, 1025)))


def shannon_entropy(text: str) -> float:
    """Bits per character of ``text`` under its own character distribution."""
    if not text:
        return 0.0
    n = len(text)
    counts = Counter(text).values()
    if n < len(_C_LOG_C):
        return math.log2(n) - sum(map(_C_LOG_C.__getitem__, counts)) / n
    return math.log2(n) - sum(c * math.log2(c) for c in counts) / n


# Words of documentation stand-ins ("your_token_here", "...EXAMPLE", "xoxb-my-bot-token").
_PLACEHOLDER_WORDS = (
    "example", "your", "here", "token", "dummy", "sample", "fake", "placeholder",
    "redacted", "changeme", "secret", "random", "insert", "replace",
)  # fmt: skip
_REPEAT = re.compile(r"(.)\1{3,}")
_SEPARATORS = "-_.:"


def _sequential_share(value: str, min_run: int = 4) -> float:
    """Share of ``value`` in runs of at least ``min_run`` consecutive characters (abcd, 1234)."""
    covered = 0
    run = 1
    for a, b in pairwise(value):
        if ord(b) == ord(a) + 1:
            run += 1
            continue
        if run >= min_run:
            covered += run
        run = 1
    if run >= min_run:
        covered += run
    return covered / len(value) if value else 0.0


def placeholder_like(value: str) -> bool:
    """A documentation stand-in rather than a key: ``xoxb-xxxx...``, ``sk-your-key-here``,
    ``AKIA...EXAMPLE``, ``abcdef123456...``, a value cut off at a separator.

    Random keys almost never hold four equal characters in a row (about 1e-4 per
    position over base62), are never half made of runs like ``abcd``/``1234``, and
    hold no English placeholder word.
    """
    lowered = value.lower()
    if _REPEAT.search(value) or _sequential_share(lowered) >= 0.5:
        return True
    if value[-1:] in _SEPARATORS:
        return True
    return any(word in lowered for word in _PLACEHOLDER_WORDS)
