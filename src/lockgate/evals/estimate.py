"""The cost of a run, estimated before it starts (pure).

Prompt tokens are counted roughly (four characters a token); the answer is assumed to be
``max_tokens`` long when the case sets it, else ``DEFAULT_ANSWER_TOKENS``.  Judge calls are
priced the same way.  Aliases without a known price are listed, not guessed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lockgate.pricing import Price
from lockgate.tokens import estimate_message_tokens

__all__ = ["DEFAULT_ANSWER_TOKENS", "CostEstimate", "PriceLookup", "price_call"]

DEFAULT_ANSWER_TOKENS = 256
JUDGE_REPLY_TOKENS = 100
JUDGE_PROMPT_OVERHEAD = 200

PriceLookup = Callable[[str], Price | None]


@dataclass(slots=True)
class CostEstimate:
    usd: float = 0.0
    calls: int = 0
    judge_calls: int = 0
    cached: int = 0
    unpriced: set[str] = field(default_factory=set)

    def add(self, usd: float | None, model: str, *, judge: bool = False) -> None:
        if judge:
            self.judge_calls += 1
        else:
            self.calls += 1
        if usd is None:
            self.unpriced.add(model)
        else:
            self.usd += usd

    def describe(self) -> str:
        text = (
            f"{self.calls} calls + {self.judge_calls} judge calls"
            f" ({self.cached} answers cached): about ${self.usd:.4f}"
        )
        if self.unpriced:
            text += f" (no price known for {', '.join(sorted(self.unpriced))})"
        return text


def price_call(
    prices: PriceLookup | None,
    model: str,
    messages: list[dict[str, Any]],
    answer_tokens: int,
    extra_prompt_tokens: int = 0,
) -> float | None:
    """Rough USD of one call, or None when the alias's price is unknown."""
    price = prices(model) if prices is not None else None
    if price is None:
        return None
    prompt = estimate_message_tokens(messages) + extra_prompt_tokens
    return (prompt * price.input + answer_tokens * price.output) / 1_000_000
