"""The value every detector produces, and the entity type names."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
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
    #: what found it, for audit notes and metrics: ``gitleaks:<rule id>`` or
    #: ``lockgate:<kind>`` for a secret; empty for the type's own detector
    rule: str = field(default="", compare=False, repr=False)

    @property
    def reason(self) -> str:
        """The bounded name this finding is counted under: its rule, else its type."""
        return self.rule or self.type


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
