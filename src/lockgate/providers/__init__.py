"""Providers: canonical requests out to an upstream's wire protocol and back."""

from lockgate.providers.base import AttemptTimeouts, Provider
from lockgate.providers.registry import ProviderRegistry

__all__ = ["AttemptTimeouts", "Provider", "ProviderRegistry"]
