"""The pure rules of live model configuration."""

from __future__ import annotations

import pytest

from lockgate.modelconfig.core import (
    changed_sections,
    merged_deployments,
    parse_entry,
    unchanged_ids,
)
from lockgate.settings import ConfigError, settings_from_mapping

MOCK = {"model_name": "mock", "params": {"model": "mock/mock-1"}}


def test_parse_entry_validates_like_the_config_file() -> None:
    """A good entry parses; a bad one fails with the config file's message; environment
    references resolve from the given environment."""
    entry = parse_entry(
        {"model_name": "m", "litellm_params": {"model": "openai/x", "api_key": "os.environ/K"}},
        {"K": "secret-value"},
    )
    assert entry.params.api_key is not None
    assert entry.params.api_key.get_secret_value() == "secret-value"
    with pytest.raises(ConfigError, match="unknown provider"):
        parse_entry({"model_name": "m", "params": {"model": "nope/x"}}, {})
    with pytest.raises(ConfigError, match="K"):
        parse_entry(
            {"model_name": "m", "params": {"model": "openai/x", "api_key": "os.environ/K"}}, {}
        )
    with pytest.raises(ConfigError, match="JSON object"):
        parse_entry(["not", "a", "dict"], {})


def test_parse_entry_refuses_reserved_names() -> None:
    """A stored entry may not take the name of a group or routing alias."""
    with pytest.raises(ConfigError, match="already a group or routing alias"):
        parse_entry({**MOCK, "model_name": "gpt-4"}, {}, reserved={"gpt-4"})


def test_merged_ids_follow_file_order_then_rows() -> None:
    """File deployments keep alias#n ids, stored ones their row ids."""
    file = settings_from_mapping({"model_list": [MOCK, MOCK]}, env={}).model_list
    stored = [("m-1", parse_entry({**MOCK, "model_name": "extra"}, {}))]
    deps = merged_deployments(file, stored)
    assert [d.id for d in deps] == ["mock#0", "mock#1", "m-1"]
    assert [d.alias for d in deps] == ["mock", "mock", "extra"]


def test_unchanged_ids_needs_same_parameters() -> None:
    """A deployment whose parameters changed does not keep its state."""
    file = settings_from_mapping({"model_list": [MOCK]}, env={}).model_list
    a = parse_entry({**MOCK, "model_name": "x"}, {})
    b = parse_entry({"model_name": "x", "params": {"model": "mock/mock-1", "weight": 2}}, {})
    old = merged_deployments(file, [("m-1", a), ("m-2", a)])
    new = merged_deployments(file, [("m-1", a), ("m-2", b)])
    assert unchanged_ids(old, new) == {"mock#0", "m-1"}


def test_changed_sections_names_what_needs_a_restart() -> None:
    """model_list and the router's fallbacks/group aliases are live; the rest is named."""
    old = settings_from_mapping({"model_list": [MOCK]}, env={})
    new = settings_from_mapping(
        {
            "model_list": [MOCK, {**MOCK, "model_name": "b"}],
            "router_settings": {"fallbacks": [{"mock": ["b"]}], "num_retries": 5},
            "limits": {"key_defaults": {"requests": "5/minute"}},
        },
        env={},
    )
    assert changed_sections(old, new) == ["limits", "router_settings.num_retries"]
