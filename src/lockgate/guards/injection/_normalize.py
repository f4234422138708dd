"""Text normalisation that undoes cheap obfuscation before any matching.

Attackers hide trigger words behind compatibility characters, zero-width joiners,
Cyrillic look-alikes, leetspeak and spaced-out letters; every later stage sees the
text only after this pass so that one pattern covers all those spellings.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

__all__ = ["NormalizedText", "normalize"]

_INVISIBLE = dict.fromkeys(
    [
        *range(0x200B, 0x2010),  # zero-width space/joiners, LRM/RLM
        *range(0x202A, 0x202F),  # bidi embeddings and overrides
        *range(0x2060, 0x2065),  # word joiner, invisible operators
        *range(0x2066, 0x206A),  # bidi isolates
        0x00AD,  # soft hyphen
        0xFEFF,  # BOM / zero-width no-break space
        0x180E,  # Mongolian vowel separator
    ]
)

# A dict-based str.translate walks every character in Python-level lookups; the
# character-class search runs in C and skips it for the usual text without any.
_INVISIBLE_GATE = re.compile("[" + "".join(re.escape(chr(c)) for c in _INVISIBLE) + "]")

# Cyrillic and Greek letters that render like Latin ones (written as escapes so the
# source stays unambiguous); mapping them lets a Cyrillic-spelled "ignore" match.
_HOMOGLYPHS = str.maketrans(
    "\u0430\u0432\u0435\u043a\u043c\u043d\u043e\u0440"
    "\u0441\u0442\u0443\u0445\u0456\u0458\u0455\u0501"
    "\u0261\u0578\u03b1\u03b5\u03b9\u03ba\u03bd\u03bf"
    "\u03c1\u03c4\u03c5\u03c7\u0475\u04cf",
    "abekmhopctyxijsdgnaeikvoptuxvl",
)

# Identifiers with a number suffix or prefix ("int32", "log10", "3d", "64bit") and hex
# literals are ordinary code and units, not leetspeak.
_NOT_LEET = re.compile(r"[a-z_]*[a-z]_?\d+|\d+[a-z]+|0x[0-9a-f]+")

_LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"}
)

# A run of letters, digits and leet symbols that contains at least one letter and
# at least one leet character: "1gn0r3", "pr3v10us", "$y$tem".
# The leading look-behind pins attempts to token starts, keeping the scan linear.
_LEET_TOKEN = re.compile(r"(?<![\w@$])(?=[\w@$]*[a-z])(?=[\w@$]*[013457@$])[\w@$]{3,}")

# Letters separated by single spaces, dots, dashes or stars: "i g n o r e", "s.y.s.t.e.m".
_SPACED = re.compile(r"\b(?:[a-z][ .\-*_]){3,}[a-z]\b")
_SPACED_SEP = re.compile(r"[ .\-*_]")
# Cheap pre-checks (a leading character class lets re scan fast) that skip the full
# passes on the common text that has nothing to undo.
_LEET_GATE = re.compile(r"[013457@$]")
_SPACED_GATE = re.compile(r"[ .\-*_][a-z][ .\-*_][a-z][ .\-*_]")

# A word that mixes Latin with Cyrillic or Greek letters; only such words are mapped,
# so genuine Russian or Greek text keeps its spelling.
_MIXED_WORD = re.compile(
    r"(?<![^\W\d_])[^\W\d_]*(?:[a-z][\u0370-\u04ff]|[\u0370-\u04ff][a-z])[^\W\d_]*"
)
_NON_LATIN_LOOKALIKE = re.compile(r"[\u0370-\u04ff]")


@dataclass(frozen=True, slots=True)
class NormalizedText:
    """Normalised text plus the obfuscation signals seen while producing it."""

    text: str
    invisible_chars: int
    mixed_script: bool
    leet_tokens: int


def _unleet(match: re.Match[str]) -> str:
    token = match.group(0)
    if token.isdigit() or _NOT_LEET.fullmatch(token) is not None:
        return token
    return token.translate(_LEET)


def _count_leet(text: str) -> int:
    return sum(
        1
        for m in _LEET_TOKEN.finditer(text)
        if not m.group(0).isdigit() and _NOT_LEET.fullmatch(m.group(0)) is None
    )


def _unmix(match: re.Match[str]) -> str:
    return match.group(0).translate(_HOMOGLYPHS)


def _unspace(match: re.Match[str]) -> str:
    return _SPACED_SEP.sub("", match.group(0))


def normalize(raw: str) -> NormalizedText:
    """Return NFKC-folded, lowercased, de-obfuscated text and what was undone."""
    invisible = 0
    mixed = False
    if raw.isascii():
        # NFKC leaves ASCII alone, and invisible and look-alike characters are not ASCII
        text = raw.lower()
    else:
        text = unicodedata.normalize("NFKC", raw)
        if _INVISIBLE_GATE.search(text) is not None:
            stripped = text.translate(_INVISIBLE)
            invisible = len(text) - len(stripped)
            text = stripped
        text = text.lower()
        if _NON_LATIN_LOOKALIKE.search(text) is not None:
            text, mixed_words = _MIXED_WORD.subn(_unmix, text)
            mixed = mixed_words > 0
    leet = 0
    if _LEET_GATE.search(text) is not None:
        leet = _count_leet(text)
        if leet:
            text = _LEET_TOKEN.sub(_unleet, text)
    if _SPACED_GATE.search(text) is not None:
        text = _SPACED.sub(_unspace, text)
    return NormalizedText(
        text=text, invisible_chars=invisible, mixed_script=mixed, leet_tokens=leet
    )
