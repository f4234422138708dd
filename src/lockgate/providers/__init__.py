"""Providers: canonical requests out to an upstream's wire protocol and back."""

from lockgate.providers.base import Provider, Timeouts
from lockgate.providers.registry import ProviderRegistry

__all__ = ["Provider", "ProviderRegistry", "Timeouts"]
