"""Sparse text features shared by the runtime scorer and the training script.

Words, five-letter word prefixes (a crude stemmer that also works for German and
French inflections) and prefix bigrams. Everything is a plain string so that the
shipped model is a dictionary lookup, with no hashing library at runtime.
"""

from __future__ import annotations

import re
from itertools import pairwise

__all__ = ["extract_features", "prior_tokens", "tokenize", "windows"]

_WORD = re.compile(r"[^\W_]+")
_PREFIX = 5
_MAX_TOKEN = 30


def tokenize(text: str) -> list[str]:
    """Word tokens of a normalised window (letters and digits, underscores split)."""
    return _WORD.findall(text)


def extract_features(tokens: list[str]) -> set[str]:
    """Return the feature set of one window's tokens."""
    tokens = [t[:_MAX_TOKEN] for t in tokens]
    prefixes = [t[:_PREFIX] for t in tokens]
    # List comprehensions, not generators: measurably cheaper on the hot path.
    features = set(["w:" + t for t in tokens])
    features.update(["p:" + t[:_PREFIX] for t in tokens if len(t) > _PREFIX])
    features.update(["b:" + a + " " + b for a, b in pairwise(prefixes)])
    return features


def prior_tokens(text: str) -> set[str]:
    """The word features of a lower-cased (not normalised) text: the cheap first look at
    a long document's pieces (no prefixes, bigrams, patterns or cues)."""
    return {"w:" + t[:_MAX_TOKEN] for t in set(_WORD.findall(text))}


def windows(text: str, size: int, stride: int) -> list[str]:
    """Split text into overlapping windows so cost stays linear and short attacks stay visible.

    Boundaries move back to the nearest whitespace so words are not cut in two.
    """
    if len(text) <= size + stride // 2:
        return [text]
    out: list[str] = []
    start = 0
    length = len(text)
    while start < length:
        end = min(start + size, length)
        if end < length:
            cut = text.rfind(" ", start + size // 2, end)
            if cut > 0:
                end = cut
        out.append(text[start:end])
        if end >= length:
            break
        next_start = start + stride
        space = text.find(" ", next_start, next_start + 32)
        start = space + 1 if space > 0 else next_start
    return out
