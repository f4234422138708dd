"""The README's config examples stay valid configuration."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from lockgate.settings import settings_from_mapping

README = Path(__file__).resolve().parents[2] / "README.md"
ENV = {
    "OPENAI_API_KEY": "sk-x",
    "ANTHROPIC_API_KEY": "sk-y",
    "AZURE_API_KEY": "az-z",
    "LOCKGATE_MASTER_KEY": "sk-0123456789",
    "LANGFUSE_PUBLIC_KEY": "pk-lf-x",
    "LANGFUSE_SECRET_KEY": "sk-lf-x",
    "SLACK_WEBHOOK_URL": "https://hooks.slack.test/x",
}


def test_readme_yaml_blocks_validate():
    """Every yaml block of the README loads with the real settings models."""
    blocks = re.findall(r"```yaml\n(.*?)```", README.read_text(), re.S)
    assert len(blocks) >= 2
    for block in blocks:
        data = yaml.safe_load(block)
        if "model_list" not in data:
            names = ("gpt-4o", "gpt-4o-mini", "support-bot", "faq-bot", "public-bot")
            data["model_list"] = [{"model_name": n, "params": {"model": "mock/m"}} for n in names]
        settings = settings_from_mapping(data, env=ENV)
        assert settings.model_list
