"""The context budget stage: fit each request of a budgeted alias to its budget.

Sits after routing (the budget is the answering alias's) and before the caches.
Compression (if on) runs first; then a prompt still over budget is refused or cut
(see ``truncation``).  A /v1/messages request bound for Anthropic is cut in its own
shape, so it still goes upstream natively.  What was done is in
``ctx.notes["context"]`` and the ``x-lockgate-context`` header.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from lockgate.chat import ChatRequest
from lockgate.context import RequestContext
from lockgate.contextbudget.compression import compress_anthropic, compress_canonical
from lockgate.contextbudget.config import ContextBudget
from lockgate.contextbudget.shape import anthropic_shape, canonical_shape, estimate_canonical
from lockgate.contextbudget.truncation import Cut, PromptShape, plan_cut
from lockgate.errors import ContextBudgetError
from lockgate.pipeline import Handler, Result
from lockgate.providers.anthropic import native_anthropic
from lockgate.token_count import TiktokenCounter
from lockgate.wire.anthropic_request import translate_anthropic_request

__all__ = ["HEADER", "NOTES_KEY", "AliasBudget", "ContextBudgetStage"]

NOTES_KEY = "context"
HEADER = "x-lockgate-context"

Tokenizer = Literal["tiktoken", "estimate"]


@dataclass(frozen=True, slots=True)
class AliasBudget:
    spec: ContextBudget
    #: the smallest input window among the alias's models (None: unknown)
    window: int | None
    tokenizer: Tokenizer

    def limit(self, max_tokens: int | None) -> int:
        room = None if self.window is None else self.window - (max_tokens or 0)
        options = [v for v in (self.spec.max_input_tokens, room) if v is not None]
        return max(1, min(options))


def _keep(messages: list[Any], cut: Cut | None, shape: PromptShape, keep_system: bool) -> list[Any]:
    if cut is None:
        return messages
    kept = [
        m
        for i, m in enumerate(messages[cut.start : cut.stop], cut.start)
        if keep_system and shape.system[i]
    ]
    return [*messages[: cut.start], *kept, *messages[cut.stop :]]


class ContextBudgetStage:
    name = "context"

    def __init__(self, aliases: Mapping[str, AliasBudget], counter: TiktokenCounter) -> None:
        self._aliases = dict(aliases)
        self._counter = counter

    def retarget(self, aliases: Mapping[str, AliasBudget]) -> None:
        """Budgets for the models now served (a live model change): from the next request."""
        self._aliases = dict(aliases)

    async def __call__(
        self, ctx: RequestContext, request: ChatRequest, call_next: Handler
    ) -> Result:
        budget = self._aliases.get(request.model)
        if budget is not None:
            request = await self.fit(ctx, request, budget)
        return await call_next(ctx, request)

    async def fit(
        self, ctx: RequestContext, request: ChatRequest, alias: AliasBudget
    ) -> ChatRequest:
        spec = alias.spec
        limit = alias.limit(request.max_tokens)
        step = int(spec.cut_share * limit)
        native = native_anthropic(request)
        if native is not None:
            messages = native.body["messages"]
            repeats = 0
            if spec.compress:
                packed = compress_anthropic(messages)
                messages, repeats = packed.messages, packed.repeats
            shape = anthropic_shape({**native.body, "messages": messages})
        else:
            messages = request.messages
            repeats = 0
            if spec.compress:
                packed = compress_canonical(messages)
                messages, repeats = packed.messages, packed.repeats
            body = {**request.body, "messages": messages}
            if alias.tokenizer == "tiktoken":
                counts, fixed = await self._counter.per_message(body)
            else:
                counts, fixed = estimate_canonical(body)
            shape = canonical_shape(body, counts, fixed)
        cut = plan_cut(
            shape,
            limit,
            strategy=spec.strategy,
            keep_system=spec.keep_system,
            step=step,
            head_tokens=int(spec.keep_head_share * limit),
        )
        total = shape.fixed + sum(shape.tokens)
        kept = _keep(messages, cut, shape, spec.keep_system)
        after = total - (cut.dropped_tokens if cut else 0)
        ctx.notes[NOTES_KEY] = {
            "limit": limit,
            "tokens": total,
            "sent_tokens": after,
            "dropped_messages": len(messages) - len(kept),
            "repeated_tool_results": repeats,
        }
        ctx.headers[HEADER] = f"tokens={total}; sent={after}; limit={limit}"
        if native is None:
            if kept is request.messages:
                return request
            return dataclasses.replace(request, body={**request.body, "messages": kept})
        if kept is native.body["messages"]:
            return request
        new_body = {**native.body, "messages": kept}
        try:
            canonical, _ = translate_anthropic_request(new_body)
        except Exception as exc:  # the client's own body translated before: never expected
            raise ContextBudgetError(f"The cut prompt is not valid: {exc}") from exc
        msgs = canonical["messages"]
        return dataclasses.replace(
            request,
            body={**request.body, "messages": msgs},
            native=dataclasses.replace(native, body=new_body, messages=msgs),
        )
