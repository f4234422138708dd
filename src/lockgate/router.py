"""Model aliases to deployments.

Three kinds of names reach a deployment:

* a configured alias (``model_name``);
* a name matching a wildcard alias: ``model_name: "openai/*"`` with
  ``model: openai/*`` serves ``openai/gpt-4o`` by sending ``gpt-4o`` upstream
  (the part the ``*`` matched replaces the ``*`` of the deployment's model);
* a group alias (``router_settings.model_group_alias``, LiteLLM's), a second
  name for a configured alias.

A name's *group* is the configured alias whose deployments, breakers, budgets
and fallbacks serve it; its concrete deployments carry the upstream model the
name resolves to.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

from lockgate.errors import ModelNotFoundError
from lockgate.model_patterns import match as _match
from lockgate.settings import Deployment

__all__ = ["Router"]

#: concrete wildcard deployments kept (names clients made up are bounded by this)
_MAX_CONCRETE = 4096


class Router:
    """Knows every alias and its deployments; picks one for an attempt."""

    def __init__(
        self,
        deployments: Sequence[Deployment],
        rng: random.Random | None = None,
        *,
        group_aliases: Mapping[str, str] | None = None,
    ) -> None:
        self._by_alias: dict[str, list[Deployment]] = {}
        for dep in deployments:
            self._by_alias.setdefault(dep.alias, []).append(dep)
        # Longest pattern first: "openai/gpt-*" wins over "openai/*" and "*".
        self._patterns = sorted((a for a in self._by_alias if "*" in a), key=lambda a: (-len(a), a))
        self._group_aliases = dict(group_aliases or {})
        #: names added with add_alias (routing aliases): a rebuilt router keeps them
        self._added: dict[str, str] = {}
        self._concrete: dict[str, list[Deployment]] = {}
        self._rng = rng or random.Random()
        #: per alias, the smallest max_output_tokens its deployments declare (any may serve)
        self.output_limits: dict[str, int] = {}
        for alias, deps in self._by_alias.items():
            limits = [d.params.max_output_tokens for d in deps if d.params.max_output_tokens]
            if limits:
                self.output_limits[alias] = min(limits)
        for name, target in self._group_aliases.items():
            if target in self.output_limits:
                self.output_limits[name] = self.output_limits[target]

    def add_alias(self, name: str, target: str) -> None:
        """Make ``name`` a known model that resolves to ``target``'s deployments
        (a routing alias stands in for one of its targets this way)."""
        self.resolve(target)
        self._group_aliases[name] = self.group(target)
        self._added[name] = target
        if target in self.output_limits:
            self.output_limits[name] = self.output_limits[target]

    def rebuilt(
        self, deployments: Sequence[Deployment], group_aliases: Mapping[str, str]
    ) -> Router:
        """A new router over ``deployments`` that keeps the names added with add_alias
        (a ModelNotFoundError if one of their targets is gone)."""
        router = Router(deployments, self._rng, group_aliases=group_aliases)
        for name, target in self._added.items():
            router.add_alias(name, target)
        return router

    @property
    def added_aliases(self) -> dict[str, str]:
        """Names added with add_alias, and their targets."""
        return dict(self._added)

    @property
    def deployments(self) -> list[Deployment]:
        """Every configured deployment, in config order."""
        return [d for deps in self._by_alias.values() for d in deps]

    @property
    def aliases(self) -> list[str]:
        """The configured aliases (wildcard patterns included), in config order."""
        return list(self._by_alias)

    @property
    def listed_models(self) -> list[str]:
        """Names to show in /v1/models: plain aliases and group aliases."""
        plain = [a for a in self._by_alias if "*" not in a]
        return plain + [a for a in self._group_aliases if a not in self._by_alias]

    def group(self, name: str) -> str:
        """The configured alias that serves ``name`` (404 if none does)."""
        if name in self._by_alias:
            return name
        target = self._group_aliases.get(name)
        if target is not None:
            return target
        for pattern in self._patterns:
            if _match(pattern, name) is not None:
                return pattern
        raise ModelNotFoundError(
            f"The model '{name}' does not exist or is not served by this gateway.",
            param="model",
        )

    def metric_label(self, name: str) -> str:
        """The name metrics count ``name`` under: a wildcard match counts under its
        pattern (clients may mint such names without end), any other name as itself."""
        if name in self._by_alias or name in self._group_aliases:
            return name
        for pattern in self._patterns:
            if _match(pattern, name) is not None:
                return pattern
        return name

    def resolve(self, name: str) -> list[Deployment]:
        """The deployments serving ``name``, with the upstream model it resolves to."""
        deps = self._by_alias.get(name)
        if deps:
            return deps
        group = self.group(name)
        if "*" not in group:
            return self._by_alias[group]
        found = self._concrete.get(name)
        if found is None:
            matched = _match(group, name) or ""
            found = [
                d.model_copy(
                    update={
                        "alias": name,
                        "params": d.params.model_copy(
                            update={"model": d.params.model.replace("*", matched, 1)}
                        ),
                    }
                )
                for d in self._by_alias[group]
            ]
            if len(self._concrete) >= _MAX_CONCRETE:
                self._concrete.clear()
            self._concrete[name] = found
        return found

    def deployment(self, name: str, deployment_id: str) -> Deployment:
        """The deployment ``deployment_id`` (an id of ``name``'s group) as ``name`` sees it."""
        for dep in self.resolve(name):
            if dep.id == deployment_id:
                return dep
        raise KeyError(deployment_id)

    def choose(self, alias: str) -> Deployment:
        """A weighted-random deployment (embeddings; chat goes through the dispatcher)."""
        deps = self.resolve(alias)
        if len(deps) == 1:
            return deps[0]
        weights = [d.params.weight for d in deps]
        return self._rng.choices(deps, weights=weights, k=1)[0]
