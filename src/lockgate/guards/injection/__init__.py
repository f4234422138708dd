"""In-process prompt-injection and jailbreak detection for the input guardrail."""

from __future__ import annotations

from ._detector import DEFAULT_THRESHOLD, InjectionDetector, InjectionVerdict

__all__ = ["DEFAULT_THRESHOLD", "InjectionDetector", "InjectionVerdict"]
