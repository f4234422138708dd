"""LiteLLM settings lockgate honours are rewritten into its own keys; the rest is named."""

from __future__ import annotations

from lockgate.settings import settings_from_mapping

MODEL = {"model_name": "m", "litellm_params": {"model": "mock/m"}}


def test_litellm_settings_reach_router_and_deployments() -> None:
    """drop_params, num_retries, request_timeout, fallbacks; entry rpm/tpm; bare names."""
    data = {
        "model_list": [
            {**MODEL, "rpm": 7, "tpm": 700},
            {"model_name": "big", "litellm_params": {"model": "gpt-4o", "drop_params": False}},
        ],
        "litellm_settings": {
            "drop_params": True,
            "num_retries": 4,
            "request_timeout": 90,
            "context_window_fallbacks": [{"m": ["big"]}],
            "set_verbose": True,
        },
        "router_settings": {"routing_strategy": "usage-based-routing-v2"},
    }
    s = settings_from_mapping(data, env={"OPENAI_API_KEY": "sk-test"})
    m, big = s.model_list
    assert (m.params.rpm, m.params.tpm, m.params.drop_params) == (7, 700, True)
    assert big.params.model == "openai/gpt-4o" and big.params.drop_params is False
    r = s.router_settings
    assert (r.num_retries, r.timeout, r.routing_strategy) == (4, 90.0, "least_inflight")
    assert r.context_window_fallbacks == [{"m": ["big"]}]
    named = {w.split(":")[0] for w in s.warnings}
    assert named == {"litellm_settings.set_verbose", "router_settings.routing_strategy"}


def test_router_settings_win_over_litellm_settings() -> None:
    """A value set in router_settings is not overwritten by litellm_settings'."""
    data = {
        "model_list": [MODEL],
        "litellm_settings": {"num_retries": 9},
        "router_settings": {"num_retries": 1},
    }
    assert settings_from_mapping(data, env={}).router_settings.num_retries == 1


def test_litellm_callbacks_and_alerting_become_callbacks() -> None:
    """otel, langfuse, a generic_api callback and slack alerting map to callbacks:."""
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318",
        "OTEL_HEADERS": "x-team=a,authorization=Bearer t",
        "LANGFUSE_PUBLIC_KEY": "pk-lf",
        "LANGFUSE_SECRET_KEY": "sk-lf",
        "SLACK_WEBHOOK_URL": "https://hooks.slack.test/T/B/x",
    }
    data = {
        "model_list": [MODEL],
        "litellm_settings": {
            "callbacks": ["otel", "lake"],
            "success_callback": ["langfuse", "prometheus"],
        },
        "callback_settings": {
            "lake": {
                "callback_type": "generic_api",
                "endpoint": "https://lake.test/ingest",
                "headers": {"Authorization": "Bearer x"},
                "log_format": "ndjson",
            },
            "otel": {"message_logging": False},
        },
        "general_settings": {"alerting": ["slack", "email"], "alert_types": ["budget_alerts"]},
    }
    s = settings_from_mapping(data, env=env)
    cb = s.callbacks
    assert cb.otel_logs is not None and cb.otel_logs.logs_url == "http://collector:4318/v1/logs"
    assert cb.otel_logs.headers == {"x-team": "a", "authorization": "Bearer t"}
    (lake,) = cb.webhooks
    assert (lake.name, lake.url, lake.log_format) == ("lake", "https://lake.test/ingest", "ndjson")
    assert cb.langfuse is not None and cb.langfuse.events == ["llm_api_success"]
    assert cb.langfuse.secret_key.get_secret_value() == "sk-lf"
    assert cb.budget_alerts is not None
    assert [t.url for t in cb.budget_alerts.targets] == ["https://hooks.slack.test/T/B/x"]
    warned = " | ".join(s.warnings)
    assert "'prometheus' is not a callback lockgate implements" in warned
    assert "'email' is not implemented" in warned
    assert "callback_settings: a LiteLLM setting" in warned  # otel's leftover entry


def test_alert_types_without_budget_alerts_send_none() -> None:
    """alert_types that leave out budget_alerts turn budget alerts off, by name."""
    data = {
        "model_list": [MODEL],
        "general_settings": {"alerting": ["slack"], "alert_types": ["llm_too_slow"]},
    }
    s = settings_from_mapping(data, env={"SLACK_WEBHOOK_URL": "https://hooks.slack.test/x"})
    assert s.callbacks.budget_alerts is None
    assert any("only budget_alerts is implemented" in w for w in s.warnings)
