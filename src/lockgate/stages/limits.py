"""The limits stage: reserve before the call, reconcile with real usage after it.

Every limit that applies to a request (its key, team, end user, client IP and model)
is checked and taken in one atomic step; the estimate (prompt tokens + max_tokens) is
replaced by the provider's usage and the request's cost when the answer is complete.
"""

from __future__ import annotations

import logging
from asyncio import CancelledError
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lockgate.chat import (
    ChatRequest,
    ChatResponse,
    ChatStream,
    Usage,
)
from lockgate.context import ALREADY_CHARGED, RequestContext
from lockgate.delivered import unanswered_usage
from lockgate.errors import GatewayError, PermissionDeniedError
from lockgate.limits import Limiter, LimitRule, Reservation, rate_limit_headers, rules_from_spec
from lockgate.pipeline import Handler, Result
from lockgate.settings import LimitsSettings
from lockgate.stream_watch import WatchedStream, watched
from lockgate.tokens import estimate_message_tokens

__all__ = ["LimitsStage", "SpendLevel", "SpendListener"]

_log = logging.getLogger("lockgate.limits")

_MAX_CACHED_SUBJECTS = 50_000


class _SubjectRules:
    """Rules of one spec applied to many subjects (each user, each IP), parsed once each."""

    def __init__(self, kind: str, spec: Mapping[str, Any]) -> None:
        self._kind = kind
        self._spec = spec
        self._cache: dict[str, tuple[LimitRule, ...]] = {}

    def __call__(self, subject: str) -> tuple[LimitRule, ...]:
        rules = self._cache.get(subject)
        if rules is None:
            if len(self._cache) >= _MAX_CACHED_SUBJECTS:
                self._cache.clear()
            rules = self._cache[subject] = tuple(
                rules_from_spec(f"{self._kind}:{subject}", self._spec)
            )
        return rules


@dataclass(frozen=True, slots=True)
class SpendLevel:
    """Where one spend budget stands after a request was charged."""

    rule: LimitRule
    #: the budget's storage key for this period (ends with the period id)
    period_key: str
    limit: float
    #: spend in the period so far (as of this request's reserve, plus its cost)
    spent: float
    seconds_left: float


#: told each spend budget's level after every request that cost something
SpendListener = Callable[[RequestContext, SpendLevel], None]


class LimitsStage:
    def __init__(
        self,
        limiter: Limiter,
        settings: LimitsSettings,
        unpriced: Callable[[str], bool] | None = None,
        estimate_cost: Callable[[str, int, int], float] | None = None,
        on_spend: SpendListener | None = None,
    ) -> None:
        self._limiter = limiter
        #: (alias, prompt tokens, completion tokens) -> USD a budget reserves before the call
        self._estimate_cost = estimate_cost
        self._on_spend = on_spend
        #: with ``refuse_unpriced``: whether a model alias has a deployment of unknown price
        self._unpriced = unpriced if settings.refuse_unpriced else None
        self._user_header = settings.user_header
        self._key_defaults = (
            _SubjectRules("key", settings.key_defaults) if settings.key_defaults else None
        )
        self._users = _SubjectRules("user", settings.per_user) if settings.per_user else None
        self._ips = _SubjectRules("ip", settings.per_ip) if settings.per_ip else None
        self._teams = {
            name: tuple(rules_from_spec(f"team:{name}", spec))
            for name, spec in settings.teams.items()
        }
        self._models = {
            alias: tuple(rules_from_spec(f"model:{alias}", spec))
            for alias, spec in settings.models.items()
        }

    def rules_for(self, ctx: RequestContext, request: ChatRequest) -> list[LimitRule]:
        p = ctx.principal
        rules: list[LimitRule] = list(p.rules)
        if not p.rules and self._key_defaults is not None:
            rules += self._key_defaults(p.key_id or p.kind)
        if p.team is not None and p.team in self._teams:
            rules += self._teams[p.team]
        if self._users is not None:
            user = request.user or ctx.client_headers.get(self._user_header)
            if user:
                rules += self._users(user)
        if self._ips is not None and ctx.client_ip:
            rules += self._ips(ctx.client_ip)
        model_rules = self._models.get(ctx.model_label or request.model)
        if model_rules:
            rules += model_rules
        return rules

    async def __call__(
        self, ctx: RequestContext, request: ChatRequest, call_next: Handler
    ) -> Result:
        rules = self.rules_for(ctx, request)
        if not rules or ALREADY_CHARGED in ctx.notes:  # charged when it first ran
            return await call_next(ctx, request)
        if (
            self._unpriced is not None
            and any(r.kind == "spend" for r in rules)
            and self._unpriced(request.model)
        ):
            raise PermissionDeniedError(
                f"The model '{request.model}' has no known price, and a spending budget"
                " applies to this request; it would be counted as free. Set"
                " input_cost_per_million / output_cost_per_million on its deployments.",
                code="model_unpriced",
                param="model",
            )
        prompt = estimate_message_tokens(request.messages)
        estimate = prompt + (request.max_tokens or 0)
        cost = 0.0
        if self._estimate_cost is not None and any(r.kind == "spend" for r in rules):
            # Reserved up front (then reconciled): concurrent requests on any replica
            # cannot all pass a budget's check before the first one is charged.
            try:
                cost = self._estimate_cost(request.model, prompt, request.max_tokens or 0)
            except GatewayError:  # an unknown model: the dispatcher answers 404 later
                cost = 0.0
        reservation = await self._limiter.reserve(rules, tokens=estimate, cost=cost)
        ctx.headers.update(rate_limit_headers(reservation.states))
        if reservation.decision.degraded:
            ctx.headers["x-lockgate-limits"] = "degraded"
        try:
            result = await call_next(ctx, request)
        except BaseException as exc:
            left = _left(ctx, request.messages) if isinstance(exc, CancelledError) else None
            if left is not None:  # the client hung up: the upstream read the prompt
                await self._finish(ctx, reservation, left)
            else:
                await self._limiter.finish(reservation, tokens=0, cost=0.0)
            raise
        if isinstance(result, ChatResponse):
            await self._finish(ctx, reservation, result.usage)
            return result
        return self._watch(ctx, reservation, result, request.messages)

    async def _finish(
        self, ctx: RequestContext, reservation: Reservation, usage: Usage | None
    ) -> None:
        ctx.settle(usage)
        tokens = usage.total_tokens if usage is not None else 0
        await self._limiter.finish(reservation, tokens=tokens, cost=ctx.cost)
        if self._on_spend is not None and ctx.cost > 0:
            self._report_spend(ctx, reservation)

    def _report_spend(self, ctx: RequestContext, reservation: Reservation) -> None:
        assert self._on_spend is not None
        states = reservation.states  # empty when the store was down (fail_open)
        for rule, check, state in zip(reservation.rules, reservation.checks, states, strict=False):
            if rule.kind == "spend":
                # the state is the level after the reserve, which holds this request's estimate
                spent = check.limit - state.remaining - reservation.cost + ctx.cost
                level = SpendLevel(rule, check.key, check.limit, spent, check.period)
                try:
                    self._on_spend(ctx, level)
                except Exception:
                    _log.exception("limits: the spend listener failed")

    def _watch(
        self,
        ctx: RequestContext,
        reservation: Reservation,
        stream: ChatStream,
        messages: list[dict[str, Any]],
    ) -> ChatStream:
        async def settle(watch: WatchedStream, error: BaseException | None) -> None:
            # A stream cut mid-way is charged what it delivered, not nothing; one the
            # client left before its first chunk, the prompt the upstream read.
            usage = watch.usage_or_estimate(messages)
            if usage is None and isinstance(error, (GeneratorExit, CancelledError)):
                usage = _left(ctx, messages)
            await self._finish(ctx, reservation, usage)

        return watched(stream).on_end(settle)


def _left(ctx: RequestContext, messages: list[dict[str, Any]]) -> Usage | None:
    return unanswered_usage(ctx.attempts, ctx.cache_status in ("hit", "semantic-hit"), messages)
