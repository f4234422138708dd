"""Unknown config keys are errors with a did-you-mean; LiteLLM's extras are named warnings."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.opex.support import cli, write

from lockgate.config_keys import LITELLM_UNHONOURED, did_you_mean
from lockgate.settings import ConfigError, settings_from_mapping

MOCK = [{"model_name": "m", "params": {"model": "mock/m"}}]


@pytest.mark.parametrize(
    ("section", "typo", "suggestion"),
    [
        (
            {"general_settings": {"mastr_key": "sk-0123456789"}},
            "general_settings.mastr_key",
            "master_key",
        ),
        (
            {"model_list": [{"model_name": "m", "params": {"model": "mock/m", "api_bse": "x"}}]},
            "model_list.0.params.api_bse",
            "api_base",
        ),
        ({"router_settings": {"num_retires": 1}}, "router_settings.num_retires", "num_retries"),
        (
            {"router_settings": {"breaker": {"open_second": 1}}},
            "router_settings.breaker.open_second",
            "open_seconds",
        ),
        ({"server": {"prot": 1}}, "server.prot", "port"),
        ({"limits": {"per_usr": {}}}, "limits.per_usr", "per_user"),
        ({"cache": {"aliases": {"m": {"tll": 3}}}}, "cache.aliases.m.tll", "ttl"),
        ({"semantic_cache": {"treshold": 0.9}}, "semantic_cache.treshold", "threshold"),
        ({"usage": {"batch_sise": 3}}, "usage.batch_sise", "batch_size"),
        ({"audit": {"store_body": True}}, "audit.store_body", "store_bodies"),
        ({"guardrails": {"injection": {"mdoe": "flag"}}}, "guardrails.injection.mdoe", "mode"),
        ({"tracing": {"enabeld": True}}, "tracing.enabeld", "enabled"),
        ({"logs": {"fromat": "text"}}, "logs.fromat", "format"),
        ({"rooter_settings": {}}, "rooter_settings", "router_settings"),
    ],
)
def test_typo_in_any_section_names_key_and_closest_known(section, typo, suggestion):
    """A misspelt key anywhere fails validation, naming its path and the key meant."""
    data = {"model_list": MOCK, **section}
    with pytest.raises(ConfigError) as err:
        settings_from_mapping(data, env={})
    assert f"{typo}: unknown key (did you mean {suggestion!r}?)" in str(err.value)


def test_unknown_key_without_close_match_lists_known_keys():
    """A key like nothing known lists the section's keys instead of guessing."""
    with pytest.raises(ConfigError, match=r"server\.zzzz: unknown key; known keys: host, port"):
        settings_from_mapping({"server": {"zzzz": 1}}, env={})


def test_litellm_keys_lockgate_ignores_are_named_warnings():
    """LiteLLM keys lockgate knows but does not implement load, each with its own warning."""
    data = {
        "model_list": [
            {
                "model_name": "m",
                "litellm_params": {"model": "mock/m", "rpm": 10, "tpm": 1000},
                "model_info": {"mode": "chat"},
            }
        ],
        "router_settings": {"model_group_alias": {"a": "m"}, "num_retries": 1},
        "general_settings": {
            "custom_auth": "x.y",
            "alerting": ["slack"],
            "pass_through_endpoints": [],
            # an ignored key may reference a variable that is not set
            "alerting_threshold": "os.environ/NOT_SET_ANYWHERE",
        },
        "litellm_settings": {"drop_params": True},
    }
    settings = settings_from_mapping(data, env={})
    assert settings.router_settings.num_retries == 1
    # rpm/tpm, model_info and model_group_alias are implemented (apisurface): kept, no warning
    assert settings.model_list[0].params.rpm == 10 and settings.model_list[0].params.tpm == 1000
    assert settings.model_list[0].model_info == {"mode": "chat"}
    assert settings.router_settings.group_aliases() == {"a": "m"}
    # litellm_settings.drop_params is honoured (every deployment drops unsupported fields);
    # alerting is implemented (callbacks/) but slack needs SLACK_WEBHOOK_URL, unset here
    assert settings.model_list[0].params.drop_params is True
    expected = {
        "general_settings.custom_auth",
        "general_settings.alerting",
        "general_settings.pass_through_endpoints",
        "general_settings.alerting_threshold",
    }
    named = {w.split(":")[0] for w in settings.warnings}
    assert named == expected
    ignored = [w for w in settings.warnings if not w.startswith("general_settings.alerting:")]
    assert all("lockgate does not implement; ignored" in w for w in ignored)
    assert "slack needs SLACK_WEBHOOK_URL; off" in " ".join(settings.warnings)


def test_unhonoured_lists_are_not_lockgate_fields():
    """No key lockgate implements is in the ignore lists (it would be silently dropped)."""
    from lockgate.settings import GeneralSettings, ModelEntry, ModelParams, RouterSettings, Settings

    models = {
        "": Settings,
        "model_list[]": ModelEntry,
        "model_list[].params": ModelParams,
        "router_settings": RouterSettings,
        "general_settings": GeneralSettings,
    }
    for where, keys in LITELLM_UNHONOURED.items():
        assert not keys & set(models[where].model_fields), where


def test_did_you_mean_needs_a_close_match():
    """Suggestions are for typos, not for unrelated words."""
    assert did_you_mean("mastr_key", ["master_key", "database_url"]) == "master_key"
    assert did_you_mean("colour", ["master_key", "database_url"]) is None


def test_every_missing_variable_reported_at_once():
    """All unset environment variables are in one error, each with where it is used."""
    data = {
        "model_list": [
            {"model_name": "a", "params": {"model": "openai/x", "api_key": "os.environ/KEY_A"}},
            {"model_name": "b", "params": {"model": "openai/x", "api_key": "${KEY_B}"}},
        ],
        "general_settings": {"master_key": "os.environ/KEY_C"},
    }
    with pytest.raises(ConfigError) as err:
        settings_from_mapping(data, env={"KEY_B": "set"})
    text = str(err.value)
    assert "environment variables are not set" in text
    assert "KEY_A (used by model_list.0.params.api_key)" in text
    assert "KEY_C (used by general_settings.master_key)" in text
    assert "KEY_B" not in text


def test_check_config_cli_rejects_the_dangerous_typos(tmp_path: Path):
    """`lockgate check-config` fails (exit 1) on mastr_key and api_bse, with suggestions."""
    config = write(
        tmp_path / "lockgate.yaml",
        "model_list:\n"
        "  - model_name: local\n"
        "    params: {model: openai/llama, api_bse: http://127.0.0.1:8000/v1}\n"
        "general_settings:\n  mastr_key: sk-0123456789\n",
    )
    r = cli("check-config", str(config), cwd=tmp_path)
    assert r.returncode == 1, r.stdout
    assert "model_list.0.params.api_bse: unknown key (did you mean 'api_base'?)" in r.stderr
    assert "general_settings.mastr_key: unknown key (did you mean 'master_key'?)" in r.stderr
    assert "Traceback" not in r.stderr


def test_check_config_cli_prints_litellm_warnings_and_passes(tmp_path: Path):
    """Ignored LiteLLM keys are warnings on stderr; the file is still ok."""
    config = write(
        tmp_path / "lockgate.yaml",
        "model_list:\n  - model_name: m\n    litellm_params: {model: mock/m, rpm: 5}\n"
        "general_settings:\n  alerting: [slack]\n",
    )
    r = cli("check-config", str(config), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("ok: 1 deployments")
    assert "rpm" not in r.stderr  # per-deployment rpm is implemented
    assert "warning: general_settings.alerting: slack needs SLACK_WEBHOOK_URL" in r.stderr
