"""One scanner over every enabled detector, resolving overlaps into a clean list."""

from __future__ import annotations

import re
from collections.abc import Collection

from lockgate.guards.pii.credentials import credential_detectors
from lockgate.guards.pii.entities import pii_detectors
from lockgate.guards.pii.finding import ALL_TYPES, Detector, Finding

__all__ = ["PiiScanner"]


class PiiScanner:
    """Finds personal data and credentials in text.

    Build one per configuration and share it: patterns are compiled here, and
    :meth:`find` keeps no state.

    >>> PiiScanner().find("mail me at ann@example.org")
    [Finding(start=11, end=26, type='EMAIL', value='ann@example.org')]
    """

    def __init__(self, types: Collection[str] | None = None) -> None:
        wanted = ALL_TYPES if types is None else frozenset(types)
        unknown = wanted - ALL_TYPES
        if unknown:
            raise ValueError(f"unknown entity types: {sorted(unknown)}")
        self.types: frozenset[str] = wanted
        self._digit = re.compile(r"[0-9]")
        self._detectors: list[Detector] = [
            d for d in (*credential_detectors(), *pii_detectors()) if d.type in wanted
        ]

    def find(self, text: str) -> list[Finding]:
        """Non-overlapping findings sorted by position; on overlap the higher
        priority type wins, then the longer match, then the earlier one."""
        candidates: list[tuple[int, Finding]] = []
        has_digit = self._digit.search(text) is not None
        for detector in self._detectors:
            if detector.needs_digit and not has_digit:
                continue
            for finding in detector.scan(text):
                candidates.append((detector.priority, finding))
        if not candidates:
            return []
        if len(candidates) == 1:
            return [candidates[0][1]]
        candidates.sort(key=lambda c: (-c[0], c[1].start - c[1].end, c[1].start))
        chosen: list[Finding] = []
        for _, finding in candidates:
            if all(finding.end <= f.start or finding.start >= f.end for f in chosen):
                chosen.append(finding)
        chosen.sort(key=lambda f: f.start)
        return chosen
