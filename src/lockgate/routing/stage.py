"""The routing stage: for a routing alias, score the prompt and hand the request on to
the strong or the weak alias. Sits after limits (which count the routing alias) and
before the caches and the dispatcher (which see the chosen alias).

Every routed answer says what was decided: ``x-lockgate-route: weak; target=...;
score=...; threshold=...``, the same in ``ctx.notes["route"]`` (audit record) and on the
request's trace span, and the deployment that answered is in the usage row. A scoring
failure never fails the request: it goes to the strong alias and is counted.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from opentelemetry import trace
from prometheus_client import CollectorRegistry, Counter, Gauge

from lockgate.chat import ChatRequest
from lockgate.context import RequestContext
from lockgate.memo import TextMemo
from lockgate.pipeline import Handler, Result
from lockgate.routing.config import RouteSpec
from lockgate.routing.model import RouterModel, embedding_text
from lockgate.routing.policy import Decision, SharePolicy

__all__ = ["NOTES_KEY", "RouteStage", "prompt_text"]

NOTES_KEY = "route"
ROUTE_HEADER = "x-lockgate-route"
_MAX_CHARS = 4000
#: scores of prompts kept (a repeated prompt is decided without the embedder's forward
#: pass, ~8 ms of CPU, or the features and the model, ~0.2 ms): at most this many, and this
#: many characters of prompts
SCORE_MEMO_ENTRIES = 4096
SCORE_MEMO_CHARS = 1_000_000
_log = logging.getLogger("lockgate.routing")

EmbedOne = Callable[[list[str]], Awaitable[npt.NDArray[np.float32]]]


def prompt_text(messages: list[dict[str, Any]]) -> str:
    """The text the router judges: the last user turn (text parts joined by newlines,
    stripped, as the semantic cache reads it, so a shared embedder embeds it once),
    capped."""
    for msg in reversed(messages):
        if msg.get("role") != "user":
            continue
        content = msg.get("content")
        if isinstance(content, str):
            return content.strip()[-_MAX_CHARS:]
        if isinstance(content, list):
            parts = [p.get("text", "") for p in content if isinstance(p, dict)]
            return "\n".join(p for p in parts if isinstance(p, str) and p).strip()[-_MAX_CHARS:]
    return ""


@dataclass(slots=True)
class _Route:
    spec: RouteSpec
    policy: SharePolicy


class RouteStage:
    name = "route"

    def __init__(
        self,
        routes: Mapping[str, RouteSpec],
        model: RouterModel,
        embed: EmbedOne,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self._model = model
        self._embed = embed
        #: the model's score per prompt text (a pure function of the text)
        self._scores: TextMemo[float] = TextMemo(
            max_entries=SCORE_MEMO_ENTRIES, max_chars=SCORE_MEMO_CHARS
        )
        self._routes = {alias: _Route(spec, self._policy(spec)) for alias, spec in routes.items()}
        r = registry or CollectorRegistry()
        self._decisions = Counter(
            "lockgate_route_decisions",
            "Routing decisions, by routing alias and choice (strong, weak, error).",
            ["alias", "choice"],
            registry=r,
        )
        self._share = Gauge(
            "lockgate_route_strong_share",
            "Share of the routing alias's recent requests sent to the strong model.",
            ["alias"],
            registry=r,
        )
        self._threshold = Gauge(
            "lockgate_route_threshold",
            "The score threshold in force for the routing alias.",
            ["alias"],
            registry=r,
        )
        for alias, route in self._routes.items():
            self._threshold.labels(alias).set(route.policy.threshold())

    def _policy(self, spec: RouteSpec) -> SharePolicy:
        if spec.threshold is not None:
            prior = spec.threshold
        elif spec.target_strong_share is not None:
            prior = self._model.threshold_for_share(spec.target_strong_share)
        else:
            prior = self._model.threshold_for_floor(spec.quality_floor or 0.95)
        return SharePolicy(prior=prior, target_share=spec.target_strong_share, window=spec.window)

    def retarget(self, routes: Mapping[str, RouteSpec]) -> list[str]:
        """A reloaded config's goals (threshold, target share, quality floor, window) for
        the routing aliases this stage serves, with the same strong and weak aliases; an
        alias whose spec is unchanged keeps its policy (and its window of scores). Returns
        the aliases that changed. Adding, removing or re-pointing an alias needs a
        restart (``modelconfig.core.changed_sections`` names it)."""
        changed = []
        for alias, route in self._routes.items():
            spec = routes.get(alias)
            if spec is None or spec == route.spec:
                continue
            if (spec.strong, spec.weak) != (route.spec.strong, route.spec.weak):
                continue
            self._routes[alias] = _Route(spec, self._policy(spec))
            self._threshold.labels(alias).set(self._routes[alias].policy.threshold())
            changed.append(alias)
        if changed:
            _log.warning("routing goals reloaded for %s", ", ".join(changed))
        return changed

    def memory_sizes(self) -> list[tuple[str, int, int]]:
        """(name, entries, characters of prompts held): the memo of scores."""
        return [("route_scores", len(self._scores), self._scores.chars)]

    async def _score(self, text: str) -> float:
        """The model's score of the prompt, from the memo when it was scored before."""
        score = self._scores.get(text)
        if score is None:
            vec = (await self._embed([embedding_text(text)]))[0]
            score = self._model.score(vec, text)
            self._scores.put(text, score)
        return score

    @property
    def embedder(self) -> object:
        """What embeds the prompts (the bound method's owner, or the function itself)."""
        return getattr(self._embed, "__self__", self._embed)

    @property
    def aliases(self) -> dict[str, str]:
        """Each routing alias and the alias it stands for when not routed (the weak one)."""
        return {alias: route.spec.weak for alias, route in self._routes.items()}

    def policy(self, alias: str) -> SharePolicy:
        return self._routes[alias].policy

    async def __call__(
        self, ctx: RequestContext, request: ChatRequest, call_next: Handler
    ) -> Result:
        route = self._routes.get(request.model)
        if route is None:
            return await call_next(ctx, request)
        alias = request.model
        text = prompt_text(request.messages)
        decision: Decision | None
        try:
            decision = route.policy.decide(await self._score(text))
        except Exception as exc:  # never fail a request over a routing score
            _log.warning("routing score failed for %s: %s", alias, exc)
            decision = None
        if decision is None:
            target, choice = route.spec.strong, "error"
            ctx.notes[NOTES_KEY] = {"alias": alias, "target": target, "error": True}
            ctx.headers[ROUTE_HEADER] = f"strong; target={target}; error=scoring-failed"
        else:
            target = route.spec.strong if decision.strong else route.spec.weak
            choice = "strong" if decision.strong else "weak"
            ctx.notes[NOTES_KEY] = {
                "alias": alias,
                "target": target,
                "choice": choice,
                "score": round(decision.score, 6),
                "threshold": round(decision.threshold, 6),
            }
            ctx.headers[ROUTE_HEADER] = decision.header(target)
        self._decisions.labels(alias, choice).inc()
        self._share.labels(alias).set(route.policy.realised_share)
        self._threshold.labels(alias).set(route.policy.threshold())
        span = trace.get_current_span()
        if span.is_recording():
            span.set_attribute("lockgate.route.alias", alias)
            span.set_attribute("lockgate.route.target", target)
            if decision is not None:
                span.set_attribute("lockgate.route.score", decision.score)
                span.set_attribute("lockgate.route.threshold", decision.threshold)
        routed = ChatRequest(
            model=target,
            body=request.body,
            stream=request.stream,
            include_usage=request.include_usage,
            native=request.native,
        )
        return await call_next(ctx, routed)
