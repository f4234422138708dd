"""Builds the context budget stage from ``context:`` in the config (in the lifespan)."""

from __future__ import annotations

from lockgate.context_window import context_window
from lockgate.contextbudget.stage import AliasBudget, ContextBudgetStage
from lockgate.errors import ModelNotFoundError
from lockgate.router import Router
from lockgate.settings import ConfigError, Settings
from lockgate.token_count import TiktokenCounter

__all__ = ["build_context_stages"]


def build_context_stages(
    config: Settings, router: Router, counter: TiktokenCounter
) -> list[ContextBudgetStage]:
    """The stage, if some alias has a budget: each needs a size, its own or its models'."""
    settings = config.context
    if not settings.aliases:
        return []
    info = {e.params.model: e.model_info for e in config.model_list}
    budgets: dict[str, AliasBudget] = {}
    for alias, spec in settings.aliases.items():
        if alias in config.routing.aliases:
            raise ConfigError(
                f"context.aliases.{alias}: a routing alias; budgets belong to the aliases"
                " that answer (its strong and weak aliases)"
            )
        try:
            deployments = router.resolve(alias)
        except ModelNotFoundError:
            raise ConfigError(f"context.aliases: unknown model_name {alias!r}") from None
        windows = [
            context_window(d.params.upstream_model, info.get(d.params.model), d.provider)
            for d in deployments
        ]
        window = None if any(w is None for w in windows) else min(w for w in windows if w)
        if spec.max_input_tokens is None and window is None:
            raise ConfigError(
                f"context.aliases.{alias}: the model's window is unknown; set max_input_tokens"
            )
        openai = all(d.provider in ("openai", "azure") for d in deployments)
        budgets[alias] = AliasBudget(spec, window, "tiktoken" if openai else "estimate")
    return [ContextBudgetStage(budgets, counter)]
