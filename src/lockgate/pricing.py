"""Prices per million tokens and the cost of a request (pure).

A deployment's ``input_cost_per_million`` / ``output_cost_per_million`` in the
config always win; then the built-in table of common models, then the model
catalog (``model_catalog.json``, synced from LiteLLM's maintained price list by
``scripts/sync_model_catalog.py``), then the built-in table's model families
(dated snapshots price as their family).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog

from lockgate.chat import Usage
from lockgate.model_catalog import catalog_entry
from lockgate.settings import Deployment

if TYPE_CHECKING:
    from lockgate.router import Router

log = structlog.get_logger("lockgate.pricing")

__all__ = [
    "ANTHROPIC_CACHE_RATES",
    "BUILTIN_PRICES",
    "Price",
    "cost_estimator",
    "cost_of",
    "price_for",
    "uncached_cost",
    "unpriced_check",
    "warn_unpriced",
    "with_anthropic_cache_rates",
]


@dataclass(frozen=True, slots=True)
class Price:
    """Dollars per million tokens.  Cache reads cost ``cached_input``; cache writes
    ``cache_write`` (5-minute ttl) or ``cache_write_1h`` (one-hour ttl); where a rate
    is None the token costs ``input`` (OpenAI charges nothing extra for writes)."""

    input: float
    output: float
    cached_input: float | None = None
    cache_write: float | None = None
    cache_write_1h: float | None = None


#: Anthropic's prompt-cache multipliers of the input price: read, write 5m, write 1h
ANTHROPIC_CACHE_RATES = (0.1, 1.25, 2.0)


def with_anthropic_cache_rates(price: Price) -> Price:
    """``price`` with Anthropic's cache rates wherever it names none."""
    read, write, write_1h = ANTHROPIC_CACHE_RATES
    return Price(
        price.input,
        price.output,
        price.cached_input if price.cached_input is not None else price.input * read,
        price.cache_write if price.cache_write is not None else price.input * write,
        price.cache_write_1h if price.cache_write_1h is not None else price.input * write_1h,
    )


def _anthropic_model(provider: str, name: str) -> bool:
    return provider == "anthropic" or "claude" in name


BUILTIN_PRICES: dict[str, Price] = {
    "gpt-4o": Price(2.50, 10.00, 1.25),
    "gpt-4o-mini": Price(0.15, 0.60, 0.075),
    "gpt-4.1": Price(2.00, 8.00, 0.50),
    "gpt-4.1-mini": Price(0.40, 1.60, 0.10),
    "gpt-4.1-nano": Price(0.10, 0.40, 0.025),
    "o3": Price(2.00, 8.00, 0.50),
    "o4-mini": Price(1.10, 4.40, 0.275),
    "gpt-3.5-turbo": Price(0.50, 1.50),
    "text-embedding-3-small": Price(0.02, 0.0),
    "text-embedding-3-large": Price(0.13, 0.0),
    "claude-opus-4-1": Price(15.00, 75.00, 1.50),
    "claude-sonnet-4-5": Price(3.00, 15.00, 0.30),
    "claude-sonnet-4": Price(3.00, 15.00, 0.30),
    "claude-3-7-sonnet": Price(3.00, 15.00, 0.30),
    "claude-3-5-sonnet": Price(3.00, 15.00, 0.30),
    "claude-3-5-haiku": Price(0.80, 4.00, 0.08),
    "claude-haiku-4-5": Price(1.00, 5.00, 0.10),
    "mock-1": Price(0.0, 0.0),
}


#: price_for's answers by the id of the (frozen) deployment params they were read from,
#: with those params kept so an id is never reused while its entry lives; bounded, as
#: every reload brings new params objects
_priced: dict[int, tuple[object, Price | None]] = {}
_PRICED_MAX = 1024


def price_for(deployment: Deployment) -> Price | None:
    p = deployment.params
    known = _priced.get(id(p))
    if known is not None and known[0] is p:
        return known[1]
    price = _base_price(deployment)
    if price is not None and _anthropic_model(p.provider, p.upstream_model):
        price = with_anthropic_cache_rates(price)
    if len(_priced) >= _PRICED_MAX:
        _priced.clear()
    _priced[id(p)] = (p, price)
    return price


def _base_price(deployment: Deployment) -> Price | None:
    p = deployment.params
    if p.input_cost_per_million is not None or p.output_cost_per_million is not None:
        return Price(
            p.input_cost_per_million or 0.0,
            p.output_cost_per_million or 0.0,
            p.cached_input_cost_per_million,
        )
    name = p.upstream_model
    if name in BUILTIN_PRICES:
        return BUILTIN_PRICES[name]
    listed = catalog_entry(p.provider, name)
    if listed is not None:
        return Price(listed.input, listed.output, listed.cached_input)
    # Dated snapshots ("gpt-4o-mini-2024-07-18", "claude-3-5-haiku-latest") price as their family.
    best = max((k for k in BUILTIN_PRICES if name.startswith(k)), key=len, default=None)
    return BUILTIN_PRICES[best] if best is not None else None


def cost_of(price: Price | None, usage: Usage) -> float:
    """USD cost of ``usage`` at ``price`` (0 when the price is unknown)."""
    if price is None:
        return 0.0
    base = price.input
    read = price.cached_input if price.cached_input is not None else base
    write = price.cache_write if price.cache_write is not None else base
    write_1h = price.cache_write_1h if price.cache_write_1h is not None else base
    write_1h_tokens = usage.cache_write_1h_tokens
    return (
        usage.fresh_tokens * base
        + usage.cached_tokens * read
        + (usage.cache_write_tokens - write_1h_tokens) * write
        + write_1h_tokens * write_1h
        + usage.completion_tokens * price.output
    ) / 1e6


def uncached_cost(price: Price | None, usage: Usage) -> float:
    """What ``usage`` would have cost with no prompt cache (every input token fresh)."""
    if price is None:
        return 0.0
    return (usage.prompt_tokens * price.input + usage.completion_tokens * price.output) / 1e6


def warn_unpriced(router: Router) -> list[str]:
    """Log a warning per deployment whose price is unknown (it would cost $0); their ids."""
    unpriced = []
    for alias in router.aliases:
        for dep in router.resolve(alias):
            if dep.provider != "mock" and price_for(dep) is None:
                unpriced.append(dep.id)
                log.warning(
                    "deployment has no known price; its requests will cost $0 and budgets"
                    " will not see them (set input_cost_per_million/output_cost_per_million)",
                    deployment=dep.id,
                    upstream_model=dep.params.upstream_model,
                )
    return unpriced


def unpriced_check(current: Callable[[], Router]) -> Callable[[str], bool]:
    """``alias -> bool``: whether some deployment serving ``alias`` has no known price,
    in the router ``current()`` returns (answers are remembered until it changes)."""
    seen: dict[str, bool] = {}
    owner: list[Router] = []

    def unpriced(alias: str) -> bool:
        router = current()
        if not owner or owner[0] is not router:
            seen.clear()
            owner[:] = [router]
        found = seen.get(alias)
        if found is None:
            found = any(price_for(d) is None for d in router.resolve(alias))
            if len(seen) < 10_000:
                seen[alias] = found
        return found

    return unpriced


def cost_estimator(current: Callable[[], Router]) -> Callable[[str, int, int], float]:
    """``(alias, prompt_tokens, completion_tokens) -> USD`` at the dearest price among the
    alias's deployments (any of them may serve it): what a budget reserves before the call,
    so concurrent requests cannot overspend it.  Unknown prices count as 0."""
    seen: dict[str, Price] = {}
    owner: list[Router] = []

    def estimate(alias: str, prompt_tokens: int, completion_tokens: int) -> float:
        router = current()
        if not owner or owner[0] is not router:
            seen.clear()
            owner[:] = [router]
        price = seen.get(alias)
        if price is None:
            prices = [p for p in (price_for(d) for d in router.resolve(alias)) if p is not None]
            price = Price(
                max((p.input for p in prices), default=0.0),
                max((p.output for p in prices), default=0.0),
            )
            if len(seen) < 10_000:
                seen[alias] = price
        return (prompt_tokens * price.input + completion_tokens * price.output) / 1e6

    return estimate
