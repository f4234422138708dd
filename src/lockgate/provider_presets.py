"""Known providers: which wire each speaks, where it lives, how it authenticates.

``model: groq/llama-3.1-8b-instant`` names the provider by its prefix.  Most
providers speak the OpenAI wire; a preset gives the OpenAI-compatible provider
their base URL, the environment variable LiteLLM users keep their key in, and
their quirks.  Azure OpenAI speaks the OpenAI wire at deployment URLs with an
``api-version`` and an ``api-key`` header.  Pure data: no I/O, nothing imported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["PRESETS", "Preset", "Wire", "preset_for"]

Wire = Literal["openai", "anthropic", "gemini", "bedrock", "mock"]


@dataclass(frozen=True, slots=True)
class Preset:
    wire: Wire
    #: base URL when the deployment sets no api_base
    base_url: str | None = None
    #: environment variables that hold the key, first found wins (LiteLLM's names)
    key_env: tuple[str, ...] = ()
    #: how the key is sent: "bearer" (Authorization), "api-key" (Azure) or "x-api-key"
    auth: Literal["bearer", "api-key", "x-api-key", "x-goog-api-key"] = "bearer"
    #: whether the server accepts stream_options.include_usage
    stream_options: bool = True
    #: Azure: /openai/deployments/{model}/... with ?api-version=
    azure: bool = False
    #: Vertex AI: Gemini's wire at project/location URLs, OAuth bearer tokens
    vertex: bool = False
    #: whether the server has legacy text completions (``/completions``); without, a
    #: /v1/completions request is served through its chat API
    legacy_completions: bool = True

    @property
    def needs_base(self) -> bool:
        """Whether a deployment must say where the server is (no public default)."""
        return self.base_url is None and self.wire not in ("mock", "bedrock") and not self.vertex


PRESETS: dict[str, Preset] = {
    "openai": Preset("openai", "https://api.openai.com/v1", ("OPENAI_API_KEY",)),
    # LiteLLM's name for OpenAI's legacy completions models (served on /v1/completions)
    "text-completion-openai": Preset("openai", "https://api.openai.com/v1", ("OPENAI_API_KEY",)),
    "anthropic": Preset(
        "anthropic", "https://api.anthropic.com", ("ANTHROPIC_API_KEY",), auth="x-api-key"
    ),
    "mock": Preset("mock"),
    # SigV4-signed (or a Bedrock API key); the URL comes from aws_region_name.
    "bedrock": Preset("bedrock", None, ("AWS_BEARER_TOKEN_BEDROCK",)),
    "gemini": Preset(
        "gemini",
        "https://generativelanguage.googleapis.com/v1beta",
        ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
        auth="x-goog-api-key",
    ),
    # Vertex AI (LiteLLM's prefix): the URL comes from vertex_project / vertex_location,
    # the bearer token from vertex_credentials (a service account) or the environment's ADC.
    "vertex_ai": Preset("gemini", vertex=True),
    "azure": Preset(
        "openai", None, ("AZURE_API_KEY", "AZURE_OPENAI_API_KEY"), "api-key", azure=True
    ),
    # Mistral answers usage in its last chunk and refuses stream_options.
    "mistral": Preset(
        "openai",
        "https://api.mistral.ai/v1",
        ("MISTRAL_API_KEY",),
        stream_options=False,
        legacy_completions=False,
    ),
    # Groq puts stream usage in x_groq.usage (read by the provider).
    "groq": Preset(
        "openai", "https://api.groq.com/openai/v1", ("GROQ_API_KEY",), legacy_completions=False
    ),
    "together": Preset(
        "openai", "https://api.together.xyz/v1", ("TOGETHER_API_KEY", "TOGETHERAI_API_KEY")
    ),
    "together_ai": Preset(
        "openai", "https://api.together.xyz/v1", ("TOGETHER_API_KEY", "TOGETHERAI_API_KEY")
    ),
    # DeepSeek's /completions (FIM) lives only under its /beta base.
    "deepseek": Preset(
        "openai", "https://api.deepseek.com/v1", ("DEEPSEEK_API_KEY",), legacy_completions=False
    ),
    "fireworks": Preset(
        "openai",
        "https://api.fireworks.ai/inference/v1",
        ("FIREWORKS_API_KEY", "FIREWORKS_AI_API_KEY"),
    ),
    "fireworks_ai": Preset(
        "openai",
        "https://api.fireworks.ai/inference/v1",
        ("FIREWORKS_API_KEY", "FIREWORKS_AI_API_KEY"),
    ),
    "openrouter": Preset("openai", "https://openrouter.ai/api/v1", ("OPENROUTER_API_KEY",)),
    # Local servers: no key; older Ollama and vLLM builds send no usage in streams.
    "ollama": Preset("openai", "http://127.0.0.1:11434/v1"),
    "ollama_chat": Preset("openai", "http://127.0.0.1:11434/v1"),
    "vllm": Preset("openai", None, ("VLLM_API_KEY",)),
    "hosted_vllm": Preset("openai", None, ("HOSTED_VLLM_API_KEY", "VLLM_API_KEY")),
}


def preset_for(provider: str) -> Preset:
    return PRESETS[provider]
