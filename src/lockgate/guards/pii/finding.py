"""The value every detector produces, and the entity type names."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "ALL_TYPES",
    "PII_TYPES",
    "SECRET_TYPES",
    "Detector",
    "Finding",
]

PII_TYPES = frozenset({"EMAIL", "PHONE", "CREDIT_CARD", "IBAN", "SSN", "IP"})
SECRET_TYPES = frozenset({"API_KEY", "PRIVATE_KEY", "JWT"})
ALL_TYPES = PII_TYPES | SECRET_TYPES


@dataclass(frozen=True, slots=True)
class Finding:
    """One detected entity: ``text[start:end] == value``."""

    start: int
    end: int
    type: str
    value: str


class Detector(Protocol):
    """A compiled detector for one entity type."""

    type: str
    #: Wins overlaps against detectors with a lower priority.
    priority: int
    #: Finds nothing in text without an ASCII digit (the scanner then skips it).
    needs_digit: bool

    def scan(self, text: str) -> Iterator[Finding]:
        """Yield validated candidates; they may overlap those of other detectors."""
        ...
