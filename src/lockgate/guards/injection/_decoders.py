"""Decoders for instructions hidden in text: base64, hex, base32, ``\\u``/``\\x`` escapes,
binary octets, Unicode tag characters and zero-width bits.

What they find is scored like any other window (``InjectionDetector``), so "decode this
and obey: aWdub3Jl..." is judged by its content. Every decoder is bounded in tries,
blobs and characters.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator

__all__ = ["BASE64", "decoded_blobs", "may_hide_encoding", "may_hide_text"]

# Runs of base64 alphabet long enough to hide an instruction; decoded and scored
# like any other window so "decode this and obey: aWdub3Jl..." is judged by content.
_MIN_BLOB = 24
BASE64 = re.compile(r"[A-Za-z0-9+/]{24,}={0,6}")
_HEX = re.compile(r"[0-9a-fA-F]+")
_BASE32 = re.compile(r"[A-Z2-7]+=*")
_ESCAPES = re.compile(r"(?:\\u[0-9a-fA-F]{4}|\\x[0-9a-fA-F]{2}){8,}")
_ESCAPE_HEX = re.compile(r"\\(?:u([0-9a-fA-F]{4})|x([0-9a-fA-F]{2}))")
_BINARY = re.compile(r"(?:[01]{8}[ \t]){8,}[01]{8}")
_MAX_DECODED_BLOBS = 4
_MAX_BLOB_TRIES = 16
_MAX_BLOB_CHARS = 4096


def _printable(data: bytes) -> str | None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if text and all(c.isprintable() or c.isspace() for c in text):
        return text
    return None


def _decode_blob(blob: str) -> str | None:
    """The text hidden in one run of an encoding alphabet: base64, hex or base32."""
    if _HEX.fullmatch(blob) is not None and len(blob) % 2 == 0:
        return _printable(bytes.fromhex(blob))
    if _BASE32.fullmatch(blob) is not None:
        padded = blob + "=" * (-len(blob) % 8)
        try:
            found = _printable(base64.b32decode(padded))
        except (binascii.Error, ValueError):
            found = None
        if found is not None:
            return found
    cut = blob[: len(blob) - len(blob) % 4]
    try:
        return _printable(base64.b64decode(cut, validate=True))
    except (binascii.Error, ValueError):
        return None


# Unicode "tag" characters spell ASCII invisibly (U+E0020-U+E007E mirror 0x20-0x7E).
_TAG_RUN = re.compile("[\U000e0020-\U000e007e]{8,}")
# Zero-width characters used as bits (and a separator) to hide text in plain sight.
_ZERO_WIDTH = re.compile("[\u200b\u200c\u200d\u2060\ufeff]")
_MIN_HIDDEN_BITS = 64
_HIDDEN_GATE = re.compile("[\U000e0020-\U000e007e\u200b\u200c\u200d\u2060\ufeff]")


def _hidden_texts(raw: str) -> Iterator[str]:
    """Texts spelled invisibly in ``raw``: Unicode tag characters, or zero-width
    characters used as binary digits (two symbols for the bits, an optional third
    between characters), gathered over the whole text. ASCII text has neither."""
    if not may_hide_text(raw):
        return
    for match in _TAG_RUN.finditer(raw[: _MAX_BLOB_CHARS * 4]):
        yield "".join(chr(ord(c) - 0xE0000) for c in match.group(0))
    marks = _ZERO_WIDTH.findall(raw)
    if len(marks) < _MIN_HIDDEN_BITS:
        return
    ranked = sorted(set(marks), key=marks.count, reverse=True)
    for zero, one in ((ranked[0], ranked[1]), (ranked[1], ranked[0])) if len(ranked) > 1 else ():
        sep = ranked[2] if len(ranked) > 2 else ""
        bits = "".join("0" if m == zero else "1" if m == one else " " for m in marks)
        groups = bits.split() if sep else [bits[i : i + 8] for i in range(0, len(bits), 8)]
        # a group cut short (text lost between two hiding places) is dropped, not fatal
        octets = [g for g in groups[: _MAX_BLOB_CHARS // 8] if len(g) == 8]
        if len(octets) * 8 < _MIN_HIDDEN_BITS:
            continue
        decoded = _printable(bytes(int(g, 2) for g in octets))
        if decoded and sum(c.isalpha() for c in decoded) >= len(decoded) // 2:
            yield decoded
            return


def decoded_blobs(raw: str) -> Iterator[str]:
    """Texts hidden in ``raw`` as base64, hex, base32, \\u/\\x escapes, binary octets,
    Unicode tag characters or zero-width bits."""
    yield from _hidden_texts(raw)
    # Cheap pre-check: an encoded run is one long stretch without whitespace, or binary octets.
    longest = len(raw) >= _MIN_BLOB and max(map(len, raw.split())) >= _MIN_BLOB
    found = 0
    if longest:
        for tried, match in enumerate(BASE64.finditer(raw)):
            if found >= _MAX_DECODED_BLOBS or tried >= _MAX_BLOB_TRIES:
                return
            decoded = _decode_blob(match.group(0)[:_MAX_BLOB_CHARS])
            if decoded is not None:
                found += 1
                yield decoded
        for match in _ESCAPES.finditer(raw):
            if found >= _MAX_DECODED_BLOBS:
                return
            run = match.group(0)[:_MAX_BLOB_CHARS]
            chars = [chr(int(u or x, 16)) for u, x in _ESCAPE_HEX.findall(run)]
            found += 1
            yield "".join(chars)
    binary = _BINARY.search(raw) if "01" in raw else None
    if binary is not None:
        octets = binary.group(0)[:_MAX_BLOB_CHARS].split()
        decoded = _printable(bytes(int(o, 2) for o in octets))
        if decoded is not None:
            yield decoded


def may_hide_encoding(text: str) -> bool:
    """Whether ``decoded_blobs`` could find anything in ``text`` or any part of it."""
    return (
        "01" in text
        or may_hide_text(text)
        or (len(text) >= _MIN_BLOB and max(map(len, text.split())) >= _MIN_BLOB)
    )


def may_hide_text(text: str) -> bool:
    """Whether ``_hidden_texts`` could find anything: tag or zero-width characters."""
    return not text.isascii() and _HIDDEN_GATE.search(text) is not None
