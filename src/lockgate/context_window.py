"""Models' context windows, and the input size limits that follow from them.

The guard's ``max_input_chars`` (400k characters by default) exists to stop
absurd inputs, not to second-guess a model: a 110k-token prompt is fine for a
200k-token model.  An alias whose model has a larger window gets a larger limit
(about four characters a token, plus headroom), never a smaller one: a prompt
too long for the model is the provider's 400, which context-window fallbacks
then handle.  ``model_info.max_input_tokens`` (LiteLLM's key) on a deployment
wins over the built-in table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lockgate.model_catalog import catalog_entry

__all__ = ["CONTEXT_WINDOWS", "alias_input_limits", "context_window"]

#: input tokens by model family (longest matching prefix wins), for models the catalog
#: does not list
CONTEXT_WINDOWS: dict[str, int] = {
    "gpt-4o": 128_000,
    "gpt-4.1": 1_047_576,
    "gpt-5": 272_000,
    "o3": 200_000,
    "o4-mini": 200_000,
    "gpt-3.5-turbo": 16_385,
    "claude-": 200_000,
    "anthropic.claude": 200_000,
    "gemini-1.5-pro": 2_097_152,
    "gemini-": 1_048_576,
    "mistral-large": 128_000,
    "llama-3.1": 128_000,
    "llama3.1": 128_000,
    "meta.llama3-1": 128_000,
    "deepseek-": 128_000,
}
_CHARS_PER_TOKEN = 5  # generous: code and non-English text run fewer chars per token


def context_window(
    upstream_model: str, model_info: Mapping[str, Any] | None = None, provider: str = "openai"
) -> int | None:
    """The model's input window in tokens: model_info, then the model catalog, then the
    family table."""
    if model_info:
        value = model_info.get("max_input_tokens") or model_info.get("max_tokens")
        if isinstance(value, int) and value > 0:
            return value
    listed = catalog_entry(provider, upstream_model)
    if listed is not None and listed.max_input_tokens:
        return listed.max_input_tokens
    name = upstream_model.rsplit("/", 1)[-1]
    best = max((k for k in CONTEXT_WINDOWS if name.startswith(k)), key=len, default=None)
    return CONTEXT_WINDOWS[best] if best is not None else None


def alias_input_limits(
    entries: Sequence[tuple[str, str, str, Mapping[str, Any]]], default_chars: int
) -> dict[str, int]:
    """Per alias (``(alias, provider, upstream model, model_info)``): a character limit
    above ``default_chars`` where every deployment's window allows it."""
    windows: dict[str, list[int | None]] = {}
    for alias, provider, model, info in entries:
        windows.setdefault(alias, []).append(context_window(model, info, provider))
    limits: dict[str, int] = {}
    for alias, found in windows.items():
        if "*" in alias or any(w is None for w in found):
            continue
        chars = min(w for w in found if w is not None) * _CHARS_PER_TOKEN
        if chars > default_chars:
            limits[alias] = chars
    return limits
