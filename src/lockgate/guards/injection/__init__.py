"""In-process prompt-injection and jailbreak detection for the input guardrail.

Build one detector when the app starts (it reads its ~45 KB weights file then) and share
it; scoring is pure CPU, no I/O, roughly 50 us for a short prompt and 150-400 us per KB
for long text::

    detector = InjectionDetector()            # threshold=DEFAULT_THRESHOLD
    verdict = detector.scan_messages(body["messages"])
    if verdict.flagged:
        raise PolicyViolationError("prompt injection suspected: " + ", ".join(verdict.reasons))

Data (tool results, retrieved documents) is screened apart from the user's turn::

    data = detector.scan_data(body["messages"])     # sentence by sentence
    clean, n = detector.strip_data(tool_text, threshold=0.6)

The score combines hand-weighted pattern families (see ``_rules_*.py``) with a logistic
regression over word and word-prefix n-grams, trained offline by
``bench/train_injection.py``.
"""

from __future__ import annotations

from ._detector import (
    DEFAULT_THRESHOLD,
    STRIPPED_MARKER,
    InjectionDetector,
    InjectionVerdict,
    primary_reason,
)

__all__ = [
    "DEFAULT_THRESHOLD",
    "STRIPPED_MARKER",
    "InjectionDetector",
    "InjectionVerdict",
    "primary_reason",
]
