"""LiteLLM's spelling of callbacks and alerting, translated into ``callbacks:``.

Honoured (everything else in these places gets a named warning):

* ``litellm_settings.callbacks`` / ``success_callback`` / ``failure_callback``:
  ``otel`` (OTLP/HTTP logs to ``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_ENDPOINT``,
  headers from ``OTEL_HEADERS``; default ``http://localhost:4318``), ``langfuse``
  (``LANGFUSE_PUBLIC_KEY``, ``LANGFUSE_SECRET_KEY``, ``LANGFUSE_HOST``),
  ``generic_api`` (``GENERIC_LOGGER_ENDPOINT``, ``GENERIC_LOGGER_HEADERS``) and any
  name that ``callback_settings`` defines with ``callback_type: generic_api``.
  ``success_callback`` sends only answered requests, ``failure_callback`` only
  failed ones, ``callbacks`` both.
* ``general_settings.alerting``: ``slack`` (``SLACK_WEBHOOK_URL``, else
  ``ALERTING_WEBHOOK_URL``) and ``webhook`` (``WEBHOOK_URL``, LiteLLM's WebhookEvent
  JSON), for budget alerts only; ``alert_types`` (only ``budget_alerts`` is sent)
  and ``alert_to_webhook_url.budget_alerts``.

Secrets stay environment references (``os.environ/NAME``): they are resolved with
the rest of the file, so a dump of the settings never holds them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["translate_litellm_callbacks"]

_CALLBACK_KEYS = {
    "callbacks": ["llm_api_success", "llm_api_failure"],
    "success_callback": ["llm_api_success"],
    "failure_callback": ["llm_api_failure"],
}


def _env_ref(env: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        if env.get(name):
            return f"os.environ/{name}"
    return None


def _headers_from(value: str | None) -> dict[str, str]:
    """``k=v,k2=v2`` (the OTEL_HEADERS / GENERIC_LOGGER_HEADERS spelling)."""
    out: dict[str, str] = {}
    for part in (value or "").split(","):
        key, sep, val = part.partition("=")
        if sep and key.strip():
            out[key.strip()] = val.strip()
    return out


def translate_litellm_callbacks(
    data: dict[str, Any], env: Mapping[str, str]
) -> tuple[dict[str, Any], list[str]]:
    """``data`` with LiteLLM's callback and alerting keys moved into ``callbacks:``."""
    warnings: list[str] = []
    out = dict(data)
    native = out.get("callbacks")
    cb: dict[str, Any] = dict(native) if isinstance(native, dict) else {}
    ls = out.get("litellm_settings")
    if isinstance(ls, dict):
        ls = dict(ls)
        settings_block = out.get("callback_settings")
        custom = dict(settings_block) if isinstance(settings_block, dict) else {}
        events: dict[str, list[str]] = {}
        for key, kinds in _CALLBACK_KEYS.items():
            names = ls.pop(key, None)
            if names is None:
                continue
            for name in names if isinstance(names, list) else [names]:
                bucket = events.setdefault(str(name), [])
                bucket.extend(k for k in kinds if k not in bucket)
        for name, kinds in events.items():
            where = "litellm_settings.callbacks"
            spec = custom.get(name)
            if isinstance(spec, dict) and spec.get("callback_type") == "generic_api":
                custom.pop(name)
                hook = {
                    "name": name,
                    "url": spec.get("endpoint"),
                    "headers": spec.get("headers") or {},
                    "events": spec.get("event_types") or kinds,
                }
                if spec.get("log_format") in ("json_array", "ndjson"):
                    hook["log_format"] = spec["log_format"]
                cb.setdefault("webhooks", []).append(hook)
            elif name == "generic_api":
                url = _env_ref(env, "GENERIC_LOGGER_ENDPOINT")
                if url is None:
                    warnings.append(f"{where}: generic_api needs GENERIC_LOGGER_ENDPOINT; off")
                    continue
                headers = _headers_from(env.get("GENERIC_LOGGER_HEADERS"))
                cb.setdefault("webhooks", []).append(
                    {"name": name, "url": url, "headers": headers, "events": kinds}
                )
            elif name in ("otel", "opentelemetry"):
                sink: dict[str, Any] = {"events": kinds}
                url = _env_ref(env, "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_ENDPOINT")
                if url is not None:
                    sink["endpoint"] = url
                headers = _headers_from(
                    env.get("OTEL_EXPORTER_OTLP_HEADERS") or env.get("OTEL_HEADERS")
                )
                if headers:
                    sink["headers"] = headers
                if env.get("OTEL_SERVICE_NAME"):
                    sink["service_name"] = env["OTEL_SERVICE_NAME"]
                cb.setdefault("otel_logs", sink)
            elif name == "langfuse":
                public = _env_ref(env, "LANGFUSE_PUBLIC_KEY")
                secret = _env_ref(env, "LANGFUSE_SECRET_KEY")
                if public is None or secret is None:
                    warnings.append(
                        f"{where}: langfuse needs LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY; off"
                    )
                    continue
                lf: dict[str, Any] = {"public_key": public, "secret_key": secret, "events": kinds}
                host = _env_ref(env, "LANGFUSE_HOST")
                if host is not None:
                    lf["host"] = host
                cb.setdefault("langfuse", lf)
            else:
                warnings.append(
                    f"{where}: {name!r} is not a callback lockgate implements; ignored"
                    " (it has: otel, langfuse, generic_api; /metrics is built in)"
                )
        if isinstance(settings_block, dict):
            if custom:
                out["callback_settings"] = custom
            else:
                out.pop("callback_settings")
        out["litellm_settings"] = ls
    gs = out.get("general_settings")
    if isinstance(gs, dict) and "alerting" in gs:
        gs = dict(gs)
        alerts, more = _alerting(gs, env)
        warnings.extend(more)
        if alerts is not None and "budget_alerts" not in cb:
            cb["budget_alerts"] = alerts
        out["general_settings"] = gs
    if cb:
        out["callbacks"] = cb
    return out, warnings


def _alerting(
    gs: dict[str, Any], env: Mapping[str, str]
) -> tuple[dict[str, Any] | None, list[str]]:
    """Budget alerts from ``general_settings.alerting`` (keys consumed from ``gs``)."""
    warnings: list[str] = []
    kinds = gs.pop("alerting")
    types = gs.pop("alert_types", None)
    routes = gs.pop("alert_to_webhook_url", None)
    where = "general_settings.alerting"
    if isinstance(types, list):
        others = [str(t) for t in types if t != "budget_alerts"]
        if others:
            warnings.append(
                f"general_settings.alert_types: only budget_alerts is implemented; ignored: "
                f"{', '.join(others)}"
            )
        if "budget_alerts" not in types:
            return None, warnings
    targets: list[dict[str, Any]] = []
    routed = routes.get("budget_alerts") if isinstance(routes, dict) else None
    if isinstance(routes, dict) and set(routes) - {"budget_alerts"}:
        warnings.append(
            "general_settings.alert_to_webhook_url: only budget_alerts is implemented; ignored: "
            + ", ".join(sorted(str(k) for k in routes if k != "budget_alerts"))
        )
    for kind in kinds if isinstance(kinds, list) else [kinds]:
        if kind == "slack":
            if routed:
                urls = routed if isinstance(routed, list) else [routed]
                targets.extend({"url": u, "format": "slack"} for u in urls)
                continue
            url = _env_ref(env, "SLACK_WEBHOOK_URL", "ALERTING_WEBHOOK_URL")
            if url is None:
                warnings.append(f"{where}: slack needs SLACK_WEBHOOK_URL; off")
            else:
                targets.append({"url": url, "format": "slack"})
        elif kind == "webhook":
            url = _env_ref(env, "WEBHOOK_URL")
            if url is None:
                warnings.append(f"{where}: webhook needs WEBHOOK_URL; off")
            else:
                targets.append({"url": url, "format": "webhook"})
        else:
            warnings.append(f"{where}: {kind!r} is not implemented (slack, webhook are); ignored")
    return ({"targets": targets} if targets else None), warnings
