"""The model catalog (synced from LiteLLM's price list) prices and sizes known models."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from lockgate.chat import Usage
from lockgate.context_window import context_window
from lockgate.pricing import cost_of, price_for
from lockgate.settings import Deployment, ModelParams

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "sync_model_catalog.py"


def dep(model: str, **params) -> Deployment:
    return Deployment(id="x#0", alias="x", params=ModelParams(model=model, **params))


def test_catalog_prices_models_the_builtin_table_lacks():
    """Mistral and DeepSeek models get prices; config prices still win."""
    price = price_for(dep("mistral/mistral-small-latest"))
    assert price is not None and price.input > 0 and price.output > 0
    assert cost_of(price, Usage(1_000_000, 0)) == price.input
    assert price_for(dep("deepseek/deepseek-chat")) is not None
    own = price_for(dep("mistral/mistral-small-latest", input_cost_per_million=9.0))
    assert own is not None and own.input == 9.0
    assert price_for(dep("openai/my-private-finetune")) is None


def test_context_windows_from_the_catalog_and_model_info():
    """model_info wins, then the catalog, then the family table; unknown is None."""
    assert context_window("gpt-4o", None, "openai") == 128_000
    assert context_window("mistral-small-latest", None, "mistral") == 262_144
    assert context_window("claude-3-5-haiku-20241022", None, "anthropic") == 200_000
    assert context_window("x", {"max_input_tokens": 5}, "openai") == 5
    assert context_window("my-private-finetune", None, "openai") is None


def test_sync_script_keeps_priced_chat_models_of_known_providers():
    """The sync script's filter: chat/embedding, known provider, a price; per million."""
    spec = importlib.util.spec_from_file_location("sync_model_catalog", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    source = {
        "gpt-x": {
            "mode": "chat",
            "litellm_provider": "openai",
            "input_cost_per_token": 1e-06,
            "output_cost_per_token": 2e-06,
            "max_input_tokens": 1000,
        },
        "groq/llama-x": {
            "mode": "chat",
            "litellm_provider": "groq",
            "input_cost_per_token": 5e-08,
            "output_cost_per_token": 8e-08,
        },
        "dall-e": {
            "mode": "image_generation",
            "litellm_provider": "openai",
            "input_cost_per_token": 1.0,
        },
        "other/m": {
            "mode": "chat",
            "litellm_provider": "unknown-cloud",
            "input_cost_per_token": 1e-06,
        },
        "free/m": {"mode": "chat", "litellm_provider": "openai"},
    }
    assert module.build(source) == {
        "openai/gpt-x": [1.0, 2.0, None, 1000],
        "groq/llama-x": [0.05, 0.08, None, None],
    }


def test_unpriced_deployments_are_named_at_start():
    """warn_unpriced lists (and logs) every deployment that would cost $0, mock aside."""
    from lockgate.pricing import warn_unpriced
    from lockgate.router import Router

    deployments = [
        Deployment(id="a#0", alias="a", params=ModelParams(model="openai/my-finetune")),
        Deployment(id="b#0", alias="b", params=ModelParams(model="openai/gpt-4o")),
        Deployment(id="m#0", alias="m", params=ModelParams(model="mock/mock-1")),
    ]
    assert warn_unpriced(Router(deployments)) == ["a#0"]
