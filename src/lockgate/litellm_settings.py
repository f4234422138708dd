"""LiteLLM conventions lockgate honours, rewritten into lockgate's own keys on load.

* ``litellm_settings.drop_params`` -> ``drop_params`` of every deployment that sets none;
* ``litellm_settings.num_retries`` / ``request_timeout`` / ``fallbacks`` /
  ``context_window_fallbacks`` -> the same ``router_settings`` (router_settings wins);
* ``model_list[].rpm`` / ``tpm`` (entry level, LiteLLM's older place) -> the params';
* a model written without a provider (``model: gpt-3.5-turbo``) that the model
  catalog lists as an OpenAI model -> ``openai/gpt-3.5-turbo``, as LiteLLM infers it;
* ``router_settings.routing_strategy: usage-based-routing(-v2)`` -> ``least_inflight``
  with a warning (lockgate has no strategy by tokens used; per-deployment rpm/tpm
  still skip a deployment at its limit);
* ``guardrails:`` as a list (LiteLLM's external guardrail services) -> a warning:
  lockgate's own ``guardrails:`` section is a mapping of built-in guards.

Callbacks and alerting are :mod:`lockgate.callbacks.litellm`'s; keys left in
``litellm_settings`` afterwards are named as ignored by :mod:`lockgate.config_keys`.
"""

from __future__ import annotations

from typing import Any

from lockgate.model_catalog import catalog_entry

__all__ = ["translate_litellm_settings"]

_ROUTER = {
    "num_retries": "num_retries",
    "request_timeout": "timeout",
    "fallbacks": "fallbacks",
    "context_window_fallbacks": "context_window_fallbacks",
}
_PARAMS_KEYS = ("params", "litellm_params")
_USAGE_BASED = ("usage-based-routing", "usage-based-routing-v2")


def translate_litellm_settings(data: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``data`` with the LiteLLM conventions above rewritten; warnings for what is not."""
    out = dict(data)
    warnings: list[str] = []
    ls = out.get("litellm_settings")
    drop_params = None
    if isinstance(ls, dict):
        ls = dict(ls)
        drop_params = ls.pop("drop_params", None)
        router = out.get("router_settings")
        router = dict(router) if isinstance(router, dict) else {}
        for key, target in _ROUTER.items():
            if key in ls:
                value = ls.pop(key)
                router.setdefault(target, value)
        if router:
            out["router_settings"] = router
        out["litellm_settings"] = ls
    router = out.get("router_settings")
    if isinstance(router, dict) and router.get("routing_strategy") in _USAGE_BASED:
        strategy = router["routing_strategy"]
        out["router_settings"] = {**router, "routing_strategy": "least_inflight"}
        warnings.append(
            f"router_settings.routing_strategy: {strategy!r} is served as 'least_inflight'"
            " (lockgate has no strategy by tokens used; per-deployment rpm/tpm still apply)"
        )
    models = out.get("model_list")
    if isinstance(models, list):
        out["model_list"] = [_entry(e, drop_params) for e in models]
    if isinstance(out.get("guardrails"), list):
        out.pop("guardrails")
        warnings.append(
            "guardrails: LiteLLM's list of external guardrail services is not implemented;"
            " ignored (lockgate's guardrails: section is a mapping of built-in guards)"
        )
    return out, warnings


def _entry(entry: Any, drop_params: Any) -> Any:
    if not isinstance(entry, dict):
        return entry
    entry = dict(entry)
    key = next((k for k in _PARAMS_KEYS if isinstance(entry.get(k), dict)), None)
    if key is None:
        return entry
    params = dict(entry[key])
    for limit in ("rpm", "tpm"):
        if limit in entry:
            params.setdefault(limit, entry.pop(limit))
    if drop_params is not None:
        params.setdefault("drop_params", drop_params)
    model = params.get("model")
    if isinstance(model, str) and "/" not in model and catalog_entry("openai", model):
        params["model"] = f"openai/{model}"
    entry[key] = params
    return entry
