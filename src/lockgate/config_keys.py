"""Unknown config keys: a did-you-mean for typos, a named warning for LiteLLM's extras.

Every config model forbids unknown keys (``extra="forbid"``), so a typo such as
``general_settings.mastr_key`` fails validation instead of silently running without
a master key.  This module turns pydantic's ``extra_forbidden`` errors into one line
that names the key and the closest known one (``difflib``), whatever model the
section uses: it walks the model tree along the error's location, so sections added
later get the same message without doing anything.

Keys that LiteLLM's proxy accepts but lockgate does not implement are not typos: they
are removed before validation and each gives a named warning, so a LiteLLM config
still loads and its owner learns exactly what is ignored.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterator, Mapping
from typing import Any, Union

from pydantic import AliasChoices, BaseModel, ValidationError

__all__ = [
    "LITELLM_UNHONOURED",
    "describe_validation_error",
    "did_you_mean",
    "strip_unhonoured",
]

#: LiteLLM proxy keys lockgate recognises but does not act on, by where they appear.
#: ``model_list[]`` is one entry of the model list; ``model_list[].params`` its params
#: (``litellm_params`` too).  Names follow LiteLLM's config reference
#: (docs.litellm.ai/docs/proxy/config_settings).
LITELLM_UNHONOURED: Mapping[str, frozenset[str]] = {
    "": frozenset(
        {
            "litellm_settings",
            "environment_variables",
            "include",
            "callback_settings",
            "finetune_settings",
            "files_settings",
        }
    ),
    "model_list[]": frozenset(),
    "model_list[].params": frozenset(
        {
            "max_parallel_requests",
            "organization",
            "custom_llm_provider",
            "input_cost_per_token",
            "output_cost_per_token",
            "input_cost_per_second",
            "output_cost_per_second",
            "max_retries",
            "additional_drop_params",
            "mock_response",
            "mock_timeout",
            "order",
            "region_name",
            "tags",
            "base_model",
            "use_in_pass_through",
            "merge_reasoning_content_in_choices",
            "model_info",
        }
    ),
    "router_settings": frozenset(
        {
            "redis_host",
            "redis_port",
            "redis_password",
            "redis_url",
            "allowed_fails",
            "allowed_fails_policy",
            "cooldown_time",
            "disable_cooldowns",
            "routing_strategy_args",
            "retry_policy",
            "enable_pre_call_checks",
            "optional_pre_call_checks",
            "default_max_parallel_requests",
            "default_litellm_params",
            "provider_budget_config",
            "enable_tag_filtering",
            "content_policy_fallbacks",
            "default_fallbacks",
            "max_fallbacks",
            "cache_responses",
            "cache_kwargs",
            "set_verbose",
            "debug_level",
            "model_group_retry_policy",
            "retry_after",
        }
    ),
    "general_settings": frozenset(
        {
            "custom_auth",
            "custom_key_generate",
            "alerting",
            "alerting_threshold",
            "alert_types",
            "alert_to_webhook_url",
            "alerting_args",
            "slack_alerting",
            "pass_through_endpoints",
            "store_model_in_db",
            "store_prompts_in_spend_logs",
            "database_connection_pool_limit",
            "database_connection_timeout",
            "allow_requests_on_db_unavailable",
            "proxy_batch_write_at",
            "disable_spend_logs",
            "disable_master_key_return",
            "disable_reset_budget",
            "enforce_user_param",
            "allowed_routes",
            "admin_only_routes",
            "public_routes",
            "allowed_ips",
            "ui_access_mode",
            "key_management_system",
            "key_management_settings",
            "use_redis_transaction_buffer",
            "max_parallel_requests",
            "global_max_parallel_requests",
            "background_health_checks",
            "health_check_interval",
            "user_header_name",
            "litellm_key_header_name",
            "spend_report_frequency",
            "forward_openai_org_id",
            "use_x_forwarded_for",
            "enable_jwt_auth",
            "litellm_jwtauth",
            "otel",
            "maximum_spend_logs_retention_period",
            "disable_retry_on_max_parallel_request_limit_error",
            "proxy_budget_rescheduler_min_time",
            "proxy_budget_rescheduler_max_time",
        }
    ),
}

_PARAMS_KEYS = ("params", "litellm_params")


def strip_unhonoured(data: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``data`` without LiteLLM keys lockgate ignores, and one warning per removed key."""
    warnings: list[str] = []

    def strip(section: Any, where: str, path: str) -> Any:
        if not isinstance(section, dict):
            return section
        ignored = LITELLM_UNHONOURED[where]
        kept = {}
        for key, value in section.items():
            if key in ignored:
                dotted = f"{path}.{key}" if path else str(key)
                warnings.append(f"{dotted}: a LiteLLM setting lockgate does not implement; ignored")
            else:
                kept[key] = value
        return kept

    litellm = data.get("litellm_settings")
    if isinstance(litellm, dict):
        # LiteLLM's own namespace: what lockgate honours was taken out before (see
        # lockgate.callbacks.litellm); every key left is named.
        for key in litellm:
            warnings.append(
                f"litellm_settings.{key}: a LiteLLM setting lockgate does not implement; ignored"
            )
        data = {k: v for k, v in data.items() if k != "litellm_settings"}
    out = strip(data, "", "")
    for section in ("router_settings", "general_settings"):
        if section in out:
            out[section] = strip(out[section], section, section)
    models = out.get("model_list")
    if isinstance(models, list):
        entries = []
        for i, entry in enumerate(models):
            entry = strip(entry, "model_list[]", f"model_list.{i}")
            if isinstance(entry, dict):
                for params_key in _PARAMS_KEYS:
                    if params_key in entry:
                        entry[params_key] = strip(
                            entry[params_key],
                            "model_list[].params",
                            f"model_list.{i}.{params_key}",
                        )
            entries.append(entry)
        out["model_list"] = entries
    return out, warnings


def did_you_mean(word: str, known: list[str]) -> str | None:
    """The known name closest to ``word``, if any is close enough to be a typo."""
    matches = difflib.get_close_matches(word, known, n=1, cutoff=0.6)
    return matches[0] if matches else None


def describe_validation_error(exc: ValidationError, root: type[BaseModel]) -> list[str]:
    """One line per error: ``path: reason``; unknown keys name the closest known key."""
    lines = []
    for err in exc.errors():
        loc = err["loc"]
        where = ".".join(str(p) for p in loc) or "(root)"
        if err["type"] == "extra_forbidden" and loc:
            known = _known_keys(root, loc[:-1])
            hint = did_you_mean(str(loc[-1]), known) if known else None
            if hint is not None:
                lines.append(f"{where}: unknown key (did you mean {hint!r}?)")
            elif known:
                lines.append(f"{where}: unknown key; known keys: {', '.join(known)}")
            else:
                lines.append(f"{where}: unknown key")
        else:
            lines.append(f"{where}: {err['msg']}")
    return lines


def _known_keys(root: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    tp: Any = root
    for part in loc:
        tp = _step(tp, part)
        if tp is None:
            return []
    model = _as_model(tp)
    if model is None:
        return []
    names: list[str] = []
    for name, info in model.model_fields.items():
        names.append(name)
        alias = info.validation_alias
        if isinstance(alias, AliasChoices):
            names.extend(c for c in alias.choices if isinstance(c, str) and c != name)
        elif isinstance(alias, str) and alias != name:
            names.append(alias)
    return names


def _members(tp: Any) -> Iterator[Any]:
    """``tp`` itself, or each member of a union (``X | None`` included)."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        yield from _members(typing.get_args(tp)[0])
    elif origin is Union or origin is types.UnionType:
        for arg in typing.get_args(tp):
            if arg is not type(None):
                yield from _members(arg)
    else:
        yield tp


def _as_model(tp: Any) -> type[BaseModel] | None:
    for member in _members(tp):
        if isinstance(member, type) and issubclass(member, BaseModel):
            return member
    return None


def _step(tp: Any, part: int | str) -> Any:
    """The type found one location part below ``tp`` (None when it cannot be followed)."""
    members = list(_members(tp))
    if isinstance(part, str):
        # pydantic names the union member it tried, e.g. ("general_settings", "GeneralSettings")
        for member in members:
            if getattr(member, "__name__", None) == part:
                return member
    for member in members:
        if isinstance(member, type) and issubclass(member, BaseModel) and isinstance(part, str):
            for name, info in member.model_fields.items():
                alias = info.validation_alias
                choices = alias.choices if isinstance(alias, AliasChoices) else [alias]
                if part == name or part in choices:
                    return info.annotation
            continue
        origin = typing.get_origin(member)
        args = typing.get_args(member)
        if origin in (list, tuple, set, frozenset) and isinstance(part, int) and args:
            return args[0]
        if origin is dict and len(args) == 2:
            return args[1]
    return None
