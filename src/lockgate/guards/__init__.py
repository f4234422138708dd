"""Guardrails: detectors and redactors over request and response text."""

from __future__ import annotations

__all__: list[str] = []
