"""Builds the context budget stage from ``context:`` in the config (in the lifespan), and
keeps its budgets in step with the models a running gateway serves (lockgate.modelconfig)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from lockgate.context_window import context_window
from lockgate.contextbudget.config import ContextBudget, ContextSettings
from lockgate.contextbudget.stage import AliasBudget, ContextBudgetStage
from lockgate.errors import ModelNotFoundError
from lockgate.router import Router
from lockgate.settings import ConfigError, ModelEntry, Settings
from lockgate.token_count import TiktokenCounter

if TYPE_CHECKING:
    from lockgate.modelconfig.live import Follower

__all__ = ["build_context_stages", "context_budgets", "follow_models"]

log = logging.getLogger("lockgate.context")


def build_context_stages(
    config: Settings, router: Router, counter: TiktokenCounter
) -> list[ContextBudgetStage]:
    """The stage, if some alias has a budget: each needs a size, its own or its models'
    (a ConfigError names the first alias that has none)."""
    settings = config.context
    if not settings.aliases:
        return []
    for alias in settings.aliases:
        if alias in config.routing.aliases:
            raise ConfigError(
                f"context.aliases.{alias}: a routing alias; budgets belong to the aliases"
                " that answer (its strong and weak aliases)"
            )
    budgets = context_budgets(settings, config.model_list, router)
    return [ContextBudgetStage(budgets, counter)]


def context_budgets(
    settings: ContextSettings,
    model_list: Sequence[ModelEntry],
    router: Router,
    *,
    strict: bool = True,
) -> dict[str, AliasBudget]:
    """Each budgeted alias's window and tokenizer, from the deployments ``router`` serves.
    Not ``strict`` (a live model change): an alias that no longer qualifies is left out
    with one log line instead of refusing the change."""
    info = {e.params.model: e.model_info for e in model_list}
    budgets: dict[str, AliasBudget] = {}
    for alias, spec in settings.aliases.items():
        try:
            budgets[alias] = _budget(alias, spec, router, info)
        except ConfigError as exc:
            if strict:
                raise
            log.warning("context budget of %r not applied after a model change: %s", alias, exc)
    return budgets


def follow_models(stage: ContextBudgetStage, settings: ContextSettings) -> Follower:
    """A LiveModels hook: the budgets a new router implies, installed with it."""

    def prepare(model_list: Sequence[ModelEntry], router: Router) -> Callable[[], None]:
        budgets = context_budgets(settings, model_list, router, strict=False)
        return lambda: stage.retarget(budgets)

    return prepare


def _budget(
    alias: str, spec: ContextBudget, router: Router, info: Mapping[str, Mapping[str, Any]]
) -> AliasBudget:
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
    return AliasBudget(spec, window, "tiktoken" if openai else "estimate")
