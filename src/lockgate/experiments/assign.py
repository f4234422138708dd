"""Sticky variant assignment (pure): GrowthBook's double FNV-1a hash.

``bucket(seed, unit)`` maps a unit (an end user, a session, a key) to a number in
[0, 1) that depends on nothing but the two strings, so the same unit lands in the
same variant on every replica and after every restart.  It is GrowthBook's hash
version 2: ``fnv1a32(str(fnv1a32(seed + value))) % 10000 / 10000``; hashing twice
removes the bias the plain FNV shows on short, similar ids.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["bucket", "choose", "fnv1a32"]

_OFFSET = 0x811C9DC5
_PRIME = 0x01000193
_MASK = 0xFFFFFFFF


def fnv1a32(text: str) -> int:
    """32-bit FNV-1a of the UTF-8 bytes of ``text``."""
    h = _OFFSET
    for byte in text.encode("utf-8"):
        h = ((h ^ byte) * _PRIME) & _MASK
    return h


def bucket(seed: str, unit: str) -> float:
    """The unit's place in [0, 1) for ``seed`` (GrowthBook hash v2)."""
    return (fnv1a32(str(fnv1a32(seed + unit))) % 10000) / 10000


def choose(weights: Sequence[float], x: float) -> int:
    """The index whose cumulative share of ``weights`` holds ``x`` in [0, 1)."""
    total = float(sum(weights))
    acc = 0.0
    for i, w in enumerate(weights):
        acc += w / total
        if x < acc:
            return i
    return len(weights) - 1
