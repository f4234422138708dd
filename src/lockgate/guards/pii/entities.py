"""Detectors for personal data: e-mail, phone, payment card, IBAN, SSN and IP addresses.

Patterns find candidates cheaply; validators (checksums, ranges) and nearby context
words decide. Context windows are bounded (``CONTEXT_BEFORE``/``CONTEXT_AFTER``) so
that a stream can be scanned in windows with the same result as the whole text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from lockgate.guards.pii.finding import Detector, Finding
from lockgate.guards.pii.validators import IBAN_LENGTHS, iban_ok, ipv4_ok, ipv6_ok, luhn_ok, ssn_ok

__all__ = [
    "CONTEXT_AFTER",
    "CONTEXT_BEFORE",
    "CardDetector",
    "EmailDetector",
    "IbanDetector",
    "IpDetector",
    "PhoneDetector",
    "SsnDetector",
    "pii_detectors",
]

#: Characters of text before / after a candidate that a detector may look at.
CONTEXT_BEFORE = 64
CONTEXT_AFTER = 24


def _before(text: str, start: int) -> str:
    return text[max(0, start - CONTEXT_BEFORE) : start]


class EmailDetector:
    type = "EMAIL"
    priority = 50

    def __init__(self) -> None:
        self._re = re.compile(
            r"(?<![\w.%+\-])[A-Za-z0-9](?:[A-Za-z0-9._%+\-]{0,63})@"
            r"(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w\-@])"
        )

    def scan(self, text: str) -> Iterator[Finding]:
        if "@" not in text:
            return
        for m in self._re.finditer(text):
            local = m.group().split("@", 1)[0]
            if ".." in local or local.endswith("."):
                continue
            yield Finding(m.start(), m.end(), self.type, m.group())


class CardDetector:
    type = "CREDIT_CARD"
    priority = 80

    def __init__(self) -> None:
        self._re = re.compile(r"(?<![\w.\-/+])\d(?:[ \-]?\d){11,18}(?![\w]|[.\-]\d)")
        self._context = re.compile(
            r"card|\bcc\b|visa|master|amex|american express|discover|maestro|jcb|diners|"
            r"payment|pay with|charge",
            re.IGNORECASE,
        )
        # Issuer prefixes (Visa, Mastercard, Amex, Discover, JCB, Diners, Maestro,
        # UnionPay, Mir); other leading digits are order numbers, not cards.
        self._issuer = re.compile(r"4|5[0-9]|6|3[0-9]|2[2-7]|2131|1800")

    def scan(self, text: str) -> Iterator[Finding]:
        for m in self._re.finditer(text):
            raw = m.group()
            seps = {ch for ch in raw if not ch.isdigit()}
            if len(seps) > 1:
                continue
            digits = raw.replace(" ", "").replace("-", "")
            if seps and not all(3 <= len(g) <= 6 for g in re.split(r"[ \-]", raw)):
                continue
            if not self._issuer.match(digits) or not luhn_ok(digits):
                continue
            if len(digits) < 13 and not self._context.search(_before(text, m.start())):
                continue
            yield Finding(m.start(), m.end(), self.type, raw)


class IbanDetector:
    type = "IBAN"
    priority = 75

    def __init__(self) -> None:
        self._re = re.compile(r"(?<![\w])[A-Za-z]{2}\d{2}(?: ?[A-Za-z0-9]){11,32}")

    def scan(self, text: str) -> Iterator[Finding]:
        for m in self._re.finditer(text):
            raw = m.group()
            length = IBAN_LENGTHS.get(raw[:2].upper())
            if length is None:
                continue
            # Take exactly the country's length of characters, then demand a boundary.
            count = 0
            end = 0
            for i, ch in enumerate(raw):
                if ch != " ":
                    count += 1
                    if count == length:
                        end = i + 1
                        break
            if not end:
                continue
            stop = m.start() + end
            if stop < len(text) and (text[stop].isalnum() or text[stop] == "_"):
                continue
            value = raw[:end]
            if " " in value and not all(
                len(g) == 4 for g in value.split(" ")[:-1]
            ):  # printed IBANs group by four
                continue
            if iban_ok(value.replace(" ", "")):
                yield Finding(m.start(), stop, self.type, value)


class SsnDetector:
    type = "SSN"
    priority = 70

    def __init__(self) -> None:
        self._re = re.compile(r"(?<![\w\-.+/])(\d{3})([\- ]?)(\d{2})\2(\d{4})(?![\w]|[.\-]\d)")
        self._context = re.compile(
            r"\bssn|social security|social sec|\bss#|\bss no|\bsocial\b|\btin\b|taxpayer",
            re.IGNORECASE,
        )

    def scan(self, text: str) -> Iterator[Finding]:
        for m in self._re.finditer(text):
            area, sep, group, serial = m.groups()
            if not ssn_ok(area, group, serial):
                continue
            # Dashed 3-2-4 is the SSN's own shape; other spellings need a word for it.
            if sep != "-" and not self._context.search(_before(text, m.start())):
                continue
            yield Finding(m.start(), m.end(), self.type, m.group())


class IpDetector:
    type = "IP"
    priority = 60

    def __init__(self) -> None:
        self._v4 = re.compile(r"(?<![\w.\-])(?:\d{1,3}\.){3}\d{1,3}(?![\w\-]|\.\d)")
        self._v6 = re.compile(
            r"(?<![\w:.])(?:[0-9A-Fa-f]{1,4}|:)?(?::[0-9A-Fa-f]{0,4}){2,7}"
            r"(?:(?<=:)(?:\d{1,3}\.){3}\d{1,3})?(?![\w:]|\.\d)"
        )
        self._version = re.compile(r"(?:\bv|version|ver\.?|release|build)\s*$", re.IGNORECASE)

    def scan(self, text: str) -> Iterator[Finding]:
        if "." in text:
            for m in self._v4.finditer(text):
                if ipv4_ok(m.group()) and not self._version.search(text, max(0, m.start() - 9), m.start()):
                    yield Finding(m.start(), m.end(), self.type, m.group())
        if ":" in text:
            for m in self._v6.finditer(text):
                if ipv6_ok(m.group()):
                    yield Finding(m.start(), m.end(), self.type, m.group())


class PhoneDetector:
    """Phone numbers in international, North-American and European spellings.

    Unambiguous shapes (``+`` country code, NANP ``(555) 123-4567``, an extension,
    a ``0``-prefixed national number in three or more groups) stand alone; shorter or
    plainer digit groups count only next to a word such as "phone", "call" or "fax",
    which keeps ZIP codes, house numbers, dates and order numbers out.
    """

    type = "PHONE"
    priority = 40

    def __init__(self) -> None:
        group = r"(?:[ .\-]?\(\d{1,5}\)[ .\-]?\d{1,8}|[ .\-]\d{1,8}|(?<=\))\d{1,8})"
        self._re = re.compile(
            r"(?<![\w+@/.\-#$€£%])(?P<main>(?:\+ ?\d{1,14}|\(\+?\d{1,5}\)|\d{1,12})" + group + r"{0,7})"
            r"(?P<ext> ?(?:x|ext\.?|extension|#) ?\d{1,6})?(?![\w@:]|[.\-/,]\d)",
            re.IGNORECASE,
        )
        self._nanp = re.compile(
            r"(?:(?:\+ ?1|001|1)[ .\-]?)?(?:\(\d{3}\) ?\d{3}[ .\-]|\d{3}-\d{3}-|\d{3}\.\d{3}\.)\d{4}"
        )
        self._before = re.compile(
            r"(?:phone|\btel\b|tel[.:]|telephone|mobile|\bmob\b|\bcell|fax|\bcall|"
            r"\bcalling|\bdial|\bring\b|\btext\b|\bsms|whats ?app|contact|reach|"
            r"\boffice|\bdesk|\bhome|\bwork\b|landline|hotline|answering|message|"
            r"registered|\b(?:my|your|his|her|our|their) (?:\w+ )?number\b|telefon|tél|portable|handy)",
            re.IGNORECASE,
        )
        self._after = re.compile(
            r"[\s\-,:(]{0,3}(?:office|fax|mobile|cell|home|work|desk|phone|tel\b|landline)",
            re.IGNORECASE,
        )
        self._ymd = re.compile(r"(\d{4})([\-./])(\d{1,2})\2(\d{1,2})(?: \d{1,2})?")
        self._dmy = re.compile(r"(\d{1,2})([\-./])(\d{1,2})\2(?:\d{4}|\d{2})(?: \d{1,2})?")

    def _is_date(self, main: str) -> bool:
        m = self._ymd.fullmatch(main)
        if m:
            return 1 <= int(m.group(3)) <= 12 and 1 <= int(m.group(4)) <= 31
        m = self._dmy.fullmatch(main)
        if m:
            a, b = int(m.group(1)), int(m.group(3))
            return 1 <= a <= 31 and 1 <= b <= 31 and min(a, b) <= 12
        return False

    def _strong(self, main: str, digits: str, ext: bool) -> bool:
        if main.startswith("+"):
            return len(digits) >= 8
        if self._nanp.fullmatch(main):
            return True
        if ext and len(digits) >= 10:
            return True
        groups = re.findall(r"\d+", main)
        if main.startswith("00"):
            return len(digits) >= 11 and len(groups) >= 3
        return main.startswith("0") and 10 <= len(digits) <= 11 and len(groups) >= 3

    def _context(self, text: str, start: int, end: int) -> bool:
        if self._before.search(_before(text, start)):
            return True
        return self._after.match(text, end, end + CONTEXT_AFTER) is not None

    def scan(self, text: str) -> Iterator[Finding]:
        for m in self._re.finditer(text):
            main = m.group("main")
            digits = re.sub(r"\D", "", main)
            n = len(digits)
            if n < 7 or n > 15:
                continue
            if self._is_date(main):
                continue
            if (
                self._strong(main, digits, m.group("ext") is not None)
                or (
                    n <= 13
                    and (len(main) > n or n >= 8)
                    and self._context(text, m.start(), m.end())
                )
            ):
                yield Finding(m.start(), m.end(), self.type, m.group())


def pii_detectors() -> list[Detector]:
    """Fresh compiled detectors for every personal-data type."""
    return [
        EmailDetector(),
        PhoneDetector(),
        CardDetector(),
        IbanDetector(),
        SsnDetector(),
        IpDetector(),
    ]
