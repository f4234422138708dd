"""Config loading: LiteLLM's shape, environment references, clear errors, check-config."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lockgate.settings import ConfigError, load_settings, settings_from_mapping

GOOD = """
model_list:
  - model_name: gpt-4o-mini
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: http://127.0.0.1:9/v1
      api_key: os.environ/TEST_OPENAI_KEY
      timeout: 30
      weight: 2
      input_cost_per_million: 0.15
      output_cost_per_million: 0.6
  - model_name: gpt-4o-mini
    params:
      model: anthropic/claude-3-5-haiku-latest
      api_key: ${TEST_ANTHROPIC_KEY}
router_settings:
  routing_strategy: simple-shuffle
  num_retries: 3
  fallbacks: [{gpt-4o-mini: [gpt-4o-mini]}]
general_settings:
  master_key: sk-1234567890
  database_url: sqlite+aiosqlite:///./x.db
"""


def test_litellm_shaped_file_loads(tmp_path: Path):
    """A LiteLLM-shaped file validates, with env references resolved."""
    path = tmp_path / "c.yaml"
    path.write_text(GOOD)
    s = load_settings(path, env={"TEST_OPENAI_KEY": "sk-a", "TEST_ANTHROPIC_KEY": "sk-b"})
    deps = s.deployments()
    assert [d.id for d in deps] == ["gpt-4o-mini#0", "gpt-4o-mini#1"]
    assert (
        deps[0].params.api_key is not None and deps[0].params.api_key.get_secret_value() == "sk-a"
    )
    assert (
        deps[1].params.api_key is not None and deps[1].params.api_key.get_secret_value() == "sk-b"
    )
    assert deps[0].params.weight == 2 and deps[0].params.timeout == 30
    assert (
        deps[1].provider == "anthropic"
        and deps[1].params.upstream_model == "claude-3-5-haiku-latest"
    )
    assert s.router_settings.num_retries == 3
    assert "sk-a" not in repr(s)


def test_missing_env_var_names_field(tmp_path: Path):
    """An unset environment variable is reported with the field's path."""
    path = tmp_path / "c.yaml"
    path.write_text(GOOD)
    with pytest.raises(
        ConfigError, match=r"TEST_OPENAI_KEY \(used by model_list\.0\.litellm_params\.api_key\)"
    ):
        load_settings(path, env={"TEST_ANTHROPIC_KEY": "x"})


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (
            # a bare name is an OpenAI model only when the catalog lists it (gpt-4 is)
            {"model_list": [{"model_name": "a", "params": {"model": "my-own-model"}}]},
            "model_list.0.params.model",
        ),
        (
            {"model_list": [{"model_name": "a", "params": {"model": "bedrockish/x"}}]},
            "unknown provider",
        ),
        (
            {"model_list": [{"model_name": "a", "params": {"model": "openai/x", "timeout": -1}}]},
            "timeout",
        ),
        ({"router_settings": {"num_retries": "many"}}, "router_settings.num_retries"),
        ({"router_settings": {"routing_strategy": "magic"}}, "routing_strategy"),
        ({"general_settings": {"master_key": "short"}}, "master_key"),
        ({"router_settings": {"fallbacks": [{"a": ["b"]}]}}, "unknown model_name 'a'"),
        ({"bogus_section": {}}, "bogus_section"),
        ({"model_list": 5}, "model_list: Input should be a valid list"),
        ({"model_list": {"model_name": "a"}}, "model_list: Input should be a valid list"),
    ],
)
def test_bad_config_names_field_and_reason(data, needle):
    """Each invalid value is reported with where it is and why."""
    with pytest.raises(ConfigError, match="invalid configuration") as info:
        settings_from_mapping(data, env={})
    assert needle in str(info.value)


def test_yaml_syntax_error(tmp_path: Path):
    """Broken YAML is a ConfigError, not a traceback."""
    path = tmp_path / "c.yaml"
    path.write_text("model_list: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(path)


def test_embedded_defaults_add_providers_from_env():
    """No file: the mock model always, OpenAI/Anthropic models when their keys are set."""
    assert [e.model_name for e in load_settings(None, env={}).model_list] == ["mock"]
    s = load_settings(None, env={"OPENAI_API_KEY": "sk-x", "ANTHROPIC_API_KEY": "sk-y"})
    providers = {e.params.provider for e in s.model_list}
    assert providers == {"mock", "openai", "anthropic"}
    assert s.general_settings.master_key is None


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lockgate", *args], capture_output=True, text=True, timeout=60
    )


def test_check_config_cli(tmp_path: Path):
    """`lockgate check-config` exits 0 on a good file and 1 with the reason on a bad one."""
    good = tmp_path / "good.yaml"
    good.write_text("model_list:\n  - model_name: m\n    params: {model: mock/m}\n")
    r = run_cli("check-config", str(good))
    assert r.returncode == 0 and "ok: 1 deployments" in r.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("model_list:\n  - model_name: m\n    params: {model: nope}\n")
    r = run_cli("check-config", str(bad))
    assert r.returncode == 1 and "model_list.0.params.model" in r.stderr


def test_serve_refuses_open_mode_off_loopback(tmp_path: Path):
    """Without a master key the gateway will not listen beyond loopback."""
    config = tmp_path / "c.yaml"
    config.write_text(
        "model_list:\n  - model_name: m\n    params: {model: mock/m}\n"
        f"general_settings:\n  database_url: sqlite+aiosqlite:///{tmp_path}/x.db\n"
    )
    r = run_cli("serve", "--config", str(config), "--host", "0.0.0.0", "--port", "0")
    assert r.returncode == 2
    assert "without a master key" in r.stderr
