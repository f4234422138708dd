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

# Cyrillic and Greek letters that render like Latin ones; mapping them lets
# "іgnоre" (Cyrillic i and o) match the same patterns as "ignore".
_HOMOGLYPHS = str.maketrans(
    {
        "а": "a", "в": "b", "е": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p",
        "с": "c", "т": "t", "у": "y", "х": "x", "і": "i", "ј": "j", "ѕ": "s", "ԁ": "d",
        "ɡ": "g", "ո": "n", "α": "a", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ο": "o",
        "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "ѵ": "v", "ӏ": "l",
    }
)  # fmt: skip

_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"})

# A run of letters, digits and leet symbols that contains at least one letter and
# at least one leet character: "1gn0r3", "pr3v10us", "$y$tem".
_LEET_TOKEN = re.compile(r"(?<![\w@$])(?=[\w@$]*[a-z])(?=[\w@$]*[013457@$])[\w@$]{3,}")

# Letters separated by single spaces, dots, dashes or stars: "i g n o r e", "s.y.s.t.e.m".
_SPACED = re.compile(r"\b(?:[a-z][ .\-*_]){3,}[a-z]\b")
_SPACED_SEP = re.compile(r"[ .\-*_]")

_CYRILLIC_OR_GREEK = re.compile(r"[\u0370-\u03ff\u0400-\u04ff]")
_LATIN = re.compile(r"[a-zA-Z]")


@dataclass(frozen=True, slots=True)
class NormalizedText:
    """Normalised text plus the obfuscation signals seen while producing it."""

    text: str
    invisible_chars: int
    mixed_script: bool
    leet_tokens: int


def _unleet(match: re.Match[str]) -> str:
    token = match.group(0)
    if token.isdigit():
        return token
    return token.translate(_LEET)


def _unspace(match: re.Match[str]) -> str:
    return _SPACED_SEP.sub("", match.group(0))


def normalize(raw: str) -> NormalizedText:
    """Return NFKC-folded, lowercased, de-obfuscated text and what was undone."""
    text = unicodedata.normalize("NFKC", raw)
    stripped = text.translate(_INVISIBLE)
    invisible = len(text) - len(stripped)
    mixed = bool(_CYRILLIC_OR_GREEK.search(stripped)) and bool(_LATIN.search(stripped))
    text = stripped.lower()
    if mixed:
        text = text.translate(_HOMOGLYPHS)
    text, leet = _LEET_TOKEN.subn(_unleet, text)
    text = _SPACED.sub(_unspace, text)
    return NormalizedText(text=text, invisible_chars=invisible, mixed_script=mixed, leet_tokens=leet)
