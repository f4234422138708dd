"""Provider instances by name, built once in the app's lifespan."""

from __future__ import annotations

from lockgate.provider_presets import preset_for
from lockgate.providers.anthropic import AnthropicProvider
from lockgate.providers.base import Provider
from lockgate.providers.bedrock import BedrockProvider
from lockgate.providers.gemini import GeminiProvider
from lockgate.providers.mock import MockProvider
from lockgate.providers.openai import OpenAIProvider
from lockgate.settings import ProviderName

__all__ = ["ProviderRegistry"]


class ProviderRegistry:
    """One provider object (one connection pool) per provider kind."""

    def __init__(self, max_connections: int = 512) -> None:
        self._providers: dict[str, Provider] = {
            "openai": OpenAIProvider(max_connections),
            "anthropic": AnthropicProvider(max_connections),
            "gemini": GeminiProvider(max_connections),
            "bedrock": BedrockProvider(max_connections),
            "mock": MockProvider(),
        }

    def get(self, name: ProviderName) -> Provider:
        """The implementation of provider ``name`` (a preset's wire: groq -> openai)."""
        return self._providers[preset_for(name).wire]

    async def aclose(self) -> None:
        for provider in self._providers.values():
            await provider.aclose()
