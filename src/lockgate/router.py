"""Model aliases to deployments."""

from __future__ import annotations

import random
from collections.abc import Sequence

from lockgate.errors import ModelNotFoundError
from lockgate.settings import Deployment

__all__ = ["Router"]


class Router:
    """Knows every alias and its deployments; picks one for an attempt."""

    def __init__(self, deployments: Sequence[Deployment], rng: random.Random | None = None) -> None:
        self._by_alias: dict[str, list[Deployment]] = {}
        for dep in deployments:
            self._by_alias.setdefault(dep.alias, []).append(dep)
        self._rng = rng or random.Random()
        #: per alias, the smallest max_output_tokens its deployments declare (any may serve)
        self.output_limits: dict[str, int] = {}
        for alias, deps in self._by_alias.items():
            limits = [d.params.max_output_tokens for d in deps if d.params.max_output_tokens]
            if limits:
                self.output_limits[alias] = min(limits)
        #: names that stand for another alias (routing aliases), served by its deployments
        self._stand_ins: dict[str, str] = {}

    def add_alias(self, name: str, target: str) -> None:
        """Make ``name`` a known model that resolves to ``target``'s deployments."""
        self.resolve(target)
        self._stand_ins[name] = target
        if target in self.output_limits:
            self.output_limits[name] = self.output_limits[target]

    @property
    def aliases(self) -> list[str]:
        return [*self._by_alias, *self._stand_ins]

    def resolve(self, alias: str) -> list[Deployment]:
        deps = self._by_alias.get(alias) or self._by_alias.get(self._stand_ins.get(alias, ""))
        if not deps:
            raise ModelNotFoundError(
                f"The model '{alias}' does not exist or is not served by this gateway.",
                param="model",
            )
        return deps

    def choose(self, alias: str) -> Deployment:
        """A weighted-random deployment (embeddings; chat goes through the dispatcher)."""
        deps = self.resolve(alias)
        if len(deps) == 1:
            return deps[0]
        weights = [d.params.weight for d in deps]
        return self._rng.choices(deps, weights=weights, k=1)[0]
