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


# Characters that, right before a digit run, make it part of something else.
_NOT_BEFORE = r"[\w+@/.\-#$€£%]"


_PHONE_WORDS = frozenset(
    {"tel", "ph", "mob", "cell", "ring", "home", "work", "sms", "dial", "desk", "handy", "tlf"}
)
_PHONE_STEMS = (
    "phone", "telephon", "mobil", "cellphone", "fax", "call", "dialing", "whatsapp",
    "contact", "reach", "office", "landline", "hotline", "answering", "messag",
    "registered", "telefon", "téléphone", "portable", "texting", "ringing",
    # other languages: nl, es/it/pt, pt-BR/es mobile, it mobile, pl mobile, fr abbrev.
    "telefoon", "telefono", "teléfono", "telefone", "celular", "cellulare", "móvil",
    "movil", "komórk", "tél",
)  # fmt: skip
# Everyday words that name a phone only right before its number ("home: 0612 ...",
# "ring me on ..."), not a clause away ("the work around for JDK 8211105").
_NEAR_PHONE_WORDS = frozenset({"home", "work", "desk", "ring"})
# The nearest of these words before a number says it is not a phone number.
_OTHER_NUMBER_STEMS = (
    "licen", "passport", "account", "acct", "order", "invoice", "tracking", "serial",
    "isbn", "routing", "iban", "ssn", "social", "zip", "postcode", "postal", "card",
    "ticket", "policy", "member", "customer", "reference",
    # other languages: shipment, customer, invoice, order and tax-id words
    "sendung", "kunden", "rechnung", "bestell", "auftrag", "steuer", "rastreio",
    "seguimiento", "suivi", "colis", "przesyłk", "zamówien", "pedido", "commande",
    "ordine", "bestelling", "klant", "cliente", "klient", "factur", "fattura", "faktur",
)  # fmt: skip
_OTHER_NUMBER_WORDS = frozenset(
    {"id", "ref", "isin", "vat", "ein", "nif", "pin", "cnpj", "cpf", "nip", "regon", "siret"}
    | {"siren", "kvk", "btw", "ust", "iva", "tva", "nota", "hrb"}
)
# Speaker labels of chat transcripts that would otherwise read as "customer number".
_SPEAKER = re.compile(r"(?m)^[ \t]*(?:customer|member|client|cliente|klant|kunde)[ \t]*:")
_V6_CHARS = frozenset("0123456789abcdefABCDEF:.")


# "call" of a program: "Traceback (most recent call last)", "a function call", "callback"
_PROGRAM_CALL_WORDS = frozenset({"callable", "callback", "callbacks", "caller", "callee"})
_PROGRAM_CALL_BEFORE = frozenset(
    {"recent", "function", "system", "method", "api", "rpc", "tool", "sys", "remote", "nested"}
)


def _program_call(word: str, previous: str) -> bool:
    return word in _PROGRAM_CALL_WORDS or previous in _PROGRAM_CALL_BEFORE


def _before(text: str, start: int) -> str:
    return text[max(0, start - CONTEXT_BEFORE) : start]


_MESSAGE_ID_HEADER = re.compile(r"(?i)\b(?:message-id|in-reply-to|references|msg-id)\s*:")


def _message_id(text: str, start: int, local: str) -> bool:
    """An RFC 5322 Message-ID (``<142480216486.20800.1652@host>``) names a message, not a
    person: a ``<...>`` whose local part has no letter, or one after a Message-ID header."""
    if start == 0 or text[start - 1] != "<":
        return False
    if len(local) >= 12 and not any(c.isalpha() for c in local):
        return True
    line = text.rfind("\n", 0, start) + 1
    return _MESSAGE_ID_HEADER.search(text, max(line, start - 80), start) is not None


# The first half of an address wrapped at a hyphen onto the next line (Debian changelog
# trailers: "pkg-perl-\n    maintainers@lists.alioth.debian.org").
_WRAPPED_HALF = re.compile(r"(?<![\w.%+\-])[A-Za-z0-9][A-Za-z0-9._%+\-]*-[ \t]*\r?\n[ \t]*\Z")


def _wrapped_start(text: str, start: int, local_len: int) -> int:
    """Where an address whose local part starts at ``start`` really starts, if a line
    break after a hyphen split it in two; ``start`` otherwise."""
    if start == 0 or text[start - 1] not in " \t\n":
        return start
    half = _WRAPPED_HALF.search(text, max(0, start - 64 + local_len), start)
    return start if half is None else half.start()


class EmailDetector:
    type = "EMAIL"
    priority = 50
    needs_digit = False

    def __init__(self) -> None:
        # Anchored on "@": the text is walked by str.find, not by the regex engine.
        self._local = re.compile(r"[A-Za-z0-9._%+\-]{1,64}\Z")
        self._domain = re.compile(
            r"@(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w\-@])"
        )

    def scan(self, text: str) -> Iterator[Finding]:
        at = text.find("@")
        while at >= 0:
            dm = self._domain.match(text, at) if at > 0 else None
            if dm is not None:
                lm = self._local.search(text, max(0, at - 64), at)
                if lm is not None:
                    start = lm.start()
                    # Trim leading punctuation the local part may not start with.
                    while start < at and not text[start].isalnum():
                        start += 1
                    local = text[start:at]
                    if _message_id(text, start, local):
                        pass
                    elif local and ".." not in local and not local.endswith("."):
                        start = _wrapped_start(text, start, len(local))
                        yield Finding(start, dm.end(), self.type, text[start : dm.end()])
            at = text.find("@", at + 1)


class CardDetector:
    type = "CREDIT_CARD"
    priority = 80
    needs_digit = True

    def __init__(self) -> None:
        self._re = re.compile(r"[0-9](?<![\w.\-/+][0-9])(?:[ \-]?[0-9]){11,18}(?![\w]|[.\-][0-9])")
        self._context = re.compile(
            r"card|\bcc\b|visa|master|amex|american express|discover|maestro|jcb|diners|"
            r"payment|pay with|charge|"
            # other languages: de, fr, es, it/pt, pt, pl, nl/da/no, sv
            r"karte|carte|tarjeta|carta|cartão|cartao|kart[aąęy]|kaart|kort",
            re.IGNORECASE,
        )
        # Issuer prefixes (Visa, Mastercard, Amex, Discover, JCB, Diners, Maestro,
        # UnionPay, Mir); other leading digits are order numbers, not cards.
        self._issuer = re.compile(r"4|5[0-9]|6|3[0-9]|2[2-7]|2131|1800")
        # Shapes common enough to stand without a word like "card" nearby: printed in
        # groups, or 16-digit Visa/Mastercard/Discover and 15-digit Amex.
        self._standalone = re.compile(r"[46][0-9]{15}|(?:5[1-5]|2[2-7])[0-9]{14}|3[47][0-9]{13}")
        self._after = re.compile(r"\W{0,3}(?:exp|cvv|cvc|valid|card)", re.IGNORECASE)
        # Luhn-checked numbers that are not cards (French company ids, device ids)
        self._not_card = re.compile(r"\b(?:siret|siren|imei)\W{0,3}$", re.IGNORECASE)
        self._words = re.compile(r"[^\W\d_]+")

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
            if self._not_card.search(text, max(0, m.start() - 12), m.start()):
                continue
            before = _before(text, m.start())
            # a bare number, or one right after a word naming another kind of number,
            # needs a card word before or after it
            needs_word = len(digits) < 13 or not (seps or self._standalone.fullmatch(digits))
            if (
                (needs_word or self._names_other_number(before))
                and not self._context.search(before)
                and not self._after.match(text, m.end(), m.end() + CONTEXT_AFTER)
            ):
                continue
            yield Finding(m.start(), m.end(), self.type, raw)

    def _names_other_number(self, before: str) -> bool:
        """Whether one of the last three words before a bare number names another kind
        of number ("Tracking 2657134798647748", "Numer przesyłki ...")."""
        words = self._words.findall(before.lower())[-3:]
        return any(w in _OTHER_NUMBER_WORDS or w.startswith(_OTHER_NUMBER_STEMS) for w in words)


class IbanDetector:
    type = "IBAN"
    # Above payment cards: a Luhn-valid run inside a checksummed IBAN is chance.
    priority = 85
    needs_digit = True

    def __init__(self) -> None:
        # Anchored on the check digits so the regex engine can skip non-digits fast.
        # The country code may stand apart ("BE 68 5390 0754 7034", as printed on
        # Belgian and Norwegian statements); groups may be split by spaces, dots or dashes.
        self._re = re.compile(
            r"[0-9][0-9](?:(?<=[A-Za-z]{2}[0-9][0-9])|(?<=[A-Z]{2} [0-9][0-9]))"
            r"(?:[ .\-]?[A-Za-z0-9]){11,32}"
        )

    def scan(self, text: str) -> Iterator[Finding]:
        for m in self._re.finditer(text):
            begin = m.start() - (2 if text[m.start() - 1].isalpha() else 3)
            if begin > 0 and (text[begin - 1].isalnum() or text[begin - 1] == "_"):
                continue
            length = IBAN_LENGTHS.get(text[begin : begin + 2].upper())
            if length is None:
                continue
            raw = text[begin : m.end()]
            # Take exactly the country's length of characters, then demand a boundary.
            count = 0
            end = 0
            for i, ch in enumerate(raw):
                if ch not in _IBAN_SEPARATORS:
                    count += 1
                    if count == length:
                        end = i + 1
                        break
            if not end:
                continue
            stop = begin + end
            if stop < len(text) and (text[stop].isalnum() or text[stop] == "_"):
                continue
            value = raw[:end]
            compact = "".join(ch for ch in value if ch not in _IBAN_SEPARATORS)
            if _iban_grouping_ok(value, compact) and iban_ok(compact):
                yield Finding(begin, stop, self.type, value)


_IBAN_SEPARATORS = frozenset(" .-")


def _iban_grouping_ok(value: str, compact: str) -> bool:
    """Printed IBANs group by four; an all-digit account part may follow a national
    grouping instead ("ES10 0075 0080 11 0600658108", "NO07.8380.08.06006"), with one
    kind of separator after the check digits."""
    rest = value[5:] if value[2] == " " else value[4:]
    if rest[:1] in _IBAN_SEPARATORS:
        rest = rest[1:]
    seps = {ch for ch in rest if ch in _IBAN_SEPARATORS}
    if not seps:
        return True
    if len(seps) > 1:
        return False
    if seps == {" "} and all(len(g) == 4 for g in rest.split(" ")[:-1]):
        return True
    return compact[4:].isdigit()


class SsnDetector:
    type = "SSN"
    priority = 70
    needs_digit = True

    def __init__(self) -> None:
        self._re = re.compile(
            r"([0-9](?<![\w\-.+/][0-9])[0-9][0-9])([\- ]?)([0-9]{2})\2([0-9]{4})(?![\w]|[.\-][0-9])"
        )
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
    needs_digit = True  # ipv6_ok demands a digit too

    def __init__(self) -> None:
        self._v4 = re.compile(
            r"[0-9](?<![\w.\-][0-9])[0-9]{0,2}\.(?:[0-9]{1,3}\.){2}[0-9]{1,3}(?![\w\-]|\.[0-9])"
        )
        self._v6 = re.compile(
            r"(?<![\w:.])(?:[0-9A-Fa-f]{1,4}|:)?(?::[0-9A-Fa-f]{0,4}){2,7}"
            r"(?:(?<=:)(?:[0-9]{1,3}\.){3}[0-9]{1,3})?(?![\w:]|\.[0-9])"
        )
        self._v6_hint = re.compile(r":[0-9A-Fa-f]{0,4}:")
        # "\b": the "ver" that ends "server" is no version word
        self._version = re.compile(r"\b(?:v|version|ver\.?|release|build)\s*$", re.IGNORECASE)
        self._ip_word = re.compile(
            r"\b(?:ip|ipv4|address|addr|host|server|dns|gateway|ping|route|subnet|connect\w*|"
            r"from|to|via|at|inet|nameserver|proxy|client|peer)\b|@|//",
            re.IGNORECASE,
        )

    def scan(self, text: str) -> Iterator[Finding]:
        if "." in text:
            for m in self._v4.finditer(text):
                value = m.group()
                # All-single-digit quads are section and version numbers ("§4.2.3.1").
                if len(value) == 7 or not ipv4_ok(value):
                    continue
                if self._version.search(text, max(0, m.start() - 9), m.start()):
                    continue
                # "7.1.4.34" (three single-digit parts) and "0.99.28.1" (0.0.0.0/8 is
                # no host's address but for 0.0.0.0 itself) read as versions, unless
                # the words before say it is an address.
                versionish = value[1] == value[3] == value[5] == "." or (
                    value.startswith("0.") and value != "0.0.0.0"
                )
                if versionish and not self._ip_word.search(text, max(0, m.start() - 40), m.start()):
                    continue
                yield Finding(m.start(), m.end(), self.type, m.group())
        if ":" not in text:
            return
        # Anchored on ":x:" hints; the full pattern is tried only from where they begin.
        last_end = -1
        for hint in self._v6_hint.finditer(text):
            begin = hint.start()
            if begin < last_end:
                continue
            while begin > 0 and begin > hint.start() - 40 and text[begin - 1] in _V6_CHARS:
                begin -= 1
            v6 = self._v6.match(text, begin)
            if v6 is not None and v6.end() > hint.start():
                last_end = v6.end()
                if ipv6_ok(v6.group()):
                    yield Finding(v6.start(), v6.end(), self.type, v6.group())


class PhoneDetector:
    """Phone numbers in international, North-American and European spellings.

    Unambiguous shapes (``+`` country code, NANP ``(555) 123-4567``, an extension,
    a ``0``-prefixed national number in three or more groups) stand alone; shorter or
    plainer digit groups count only next to a word such as "phone", "call" or "fax",
    which keeps ZIP codes, house numbers, dates and order numbers out.
    """

    type = "PHONE"
    priority = 40
    needs_digit = True

    def __init__(self) -> None:
        group = (
            r"(?:[ .\-/]?\([0-9]{1,5}\)[ .\-/]?[0-9]{1,12}|(?:[ .\-]|/ ?)[0-9]{1,12}"
            r"|(?<=\))[0-9]{1,12})"
        )
        # The first character is consumed by one class (which lets the engine skip
        # text fast) and the branches look back to see which one it was. One-group
        # candidates need 7+ digits, the fewest a phone number has.
        first = (
            r"(?:(?<=\+)(?:\([0-9]{1,4}\)|[0-9]{1,14})"
            r"|(?<=\()\+?[0-9]{1,5}\)|(?<=[0-9])[0-9]{0,11})"
        )
        self._re = re.compile(
            r"(?P<main>[0-9+(](?<!" + _NOT_BEFORE + r"[0-9+(])"
            r"(?:" + first + group + r"{1,7}|(?<=\+)[0-9]{8,14}|(?<=[0-9])[0-9]{6,11}))"
            r"(?P<ext> ?(?i:x|ext\.?|extension|#) ?[0-9]{1,6})?(?![\w@:]|[.\-/,][0-9])"
        )
        self._nanp = re.compile(
            r"(?:(?:\+ ?1|001|1)[ .\-]?)?"
            r"(?:\([0-9]{3}\) ?[0-9]{3}[ .\-]|[0-9]{3}-[0-9]{3}-|[0-9]{3}\.[0-9]{3}\.)[0-9]{4}"
        )
        self._words = re.compile(r"[^\W\d_]+")
        self._prev_number = re.compile(
            r"[0-9](?:[ .\-()/]?[0-9]){5,}(?!.*[0-9](?:[ .\-()/]?[0-9]){5,})", re.S
        )
        self._my_number = re.compile(
            r"\b(?:my|your|his|her|our|their) (?:(?:phone|mobile|cell|contact|home|work) )?number\b"
        )
        self._after = re.compile(
            r"[\s\-,:(]{0,3}(?:office|fax|mobile|cell|home|work|desk|phone|tel\b|landline)",
            re.IGNORECASE,
        )
        self._ymd = re.compile(r"([0-9]{4})([\-./])([0-9]{1,2})\2([0-9]{1,2})(?: [0-9]{1,2})?")
        self._dmy = re.compile(
            r"([0-9]{1,2})([\-./])([0-9]{1,2})\2(?:[0-9]{4}|[0-9]{2})(?: [0-9]{1,2})?"
        )

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
        # European national format: leading 0, grouped by spaces or dots (dashed
        # 0xxx-xx-xxxx is as often a licence or account number).
        return (
            main.startswith("0")
            and 10 <= len(digits) <= 11
            and len(groups) >= 3
            and (main.count(" ") == len(groups) - 1 or main.count(".") == len(groups) - 1)
        )

    def _context(self, text: str, start: int, end: int) -> bool | None:
        """True after a phone word, None after a word naming another kind of number."""
        # Word lookup instead of one big alternation: several times faster.
        window = _before(text, start).lower()
        if "r:" in window:
            # a chat transcript's speaker label ("Customer: 0612...") names no number
            window = _SPEAKER.sub(" ", window)
        words = self._words.findall(window)
        # A phone word already spent on an earlier number, with a clause between them
        # ("tel. 99 9124-6517). I live at Praia 6, 97105022 ..."), names no later number.
        prev = self._prev_number.search(window)
        if prev is not None and len(self._words.findall(window[prev.end() :])) >= 3:
            words = self._words.findall(window[prev.end() :])
        for i in range(len(words) - 1, -1, -1):
            word = words[i]
            if word in _OTHER_NUMBER_WORDS or word.startswith(_OTHER_NUMBER_STEMS):
                return None
            if word in _PHONE_WORDS or word.startswith(_PHONE_STEMS):
                if word.startswith("call") and _program_call(word, words[i - 1] if i else ""):
                    continue
                if word in _NEAR_PHONE_WORDS and i < len(words) - 3:
                    continue  # "the work around for JDK 8211105"
                return True
        if self._after.match(text, end, end + CONTEXT_AFTER) is not None:
            return True
        return "number" in window and self._my_number.search(window) is not None

    def scan(self, text: str) -> Iterator[Finding]:
        for m in self._re.finditer(text):
            main = m.group("main")
            digits = re.sub(r"\D", "", main)
            n = len(digits)
            if n < 7 or n > 15 or self._is_date(main):
                continue
            if not main[-2].isdigit():
                continue  # "12345678.0", "555 12 3": a lone trailing digit is arithmetic
            if main.count(".") == 1 and main.replace(".", "").isdigit():
                whole, fraction = main.split(".")
                if len(whole) == 1 or len(fraction) <= 2:
                    continue  # 0.14285714, 1234567.89: decimals, not "9487.5749"
            context = self._context(text, m.start(), m.end())
            if context is None and not (main.startswith("+") or self._nanp.fullmatch(main)):
                continue
            if (n <= 13 and context) or self._strong(main, digits, m.group("ext") is not None):
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
