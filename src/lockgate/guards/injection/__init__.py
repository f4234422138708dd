"""In-process prompt-injection and jailbreak detection for the input guardrail."""

from __future__ import annotations

from ._detector import InjectionDetector, InjectionVerdict

__all__ = ["InjectionDetector", "InjectionVerdict"]
