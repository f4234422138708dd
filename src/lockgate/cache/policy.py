"""When to read and write the exact cache: pure decisions, no I/O.

Defaults: only deterministic requests are cached (``temperature == 0`` or a
``seed`` is set).  A missing temperature is *not* deterministic, since providers
default to 1.  Each alias may choose ``"deterministic"``, ``"always"`` or
``"off"`` and its own TTL.  A client can narrow (never widen) what happens with

* the header ``x-lockgate-cache: no-cache, no-store, ttl=60`` or
* the body field ``"cache": {"no_cache": true, "no_store": true, "ttl": 60}``,
  which ``strip_cache_field`` removes before the body goes upstream.

``no-cache`` skips the read (a fresh answer may still be stored); ``no-store``
skips the write.  A requested TTL is capped by the alias's ``max_ttl``.

What is stored: a completed answer whose every choice has a finish_reason.
``"length"`` *is* stored (a truncated-by-max_tokens answer is the legitimate
deterministic answer to that request, and max_tokens is part of the key);
``"content_filter"``, errors and streams that did not end cleanly are not.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from lockgate.errors import BadRequestError

__all__ = [
    "CACHE_HEADER",
    "AliasCachePolicy",
    "CacheControl",
    "CacheDecision",
    "CacheMode",
    "decide",
    "is_deterministic",
    "parse_body_control",
    "parse_header_control",
    "request_control",
    "storable_completion",
    "strip_cache_field",
]

CACHE_HEADER = "x-lockgate-cache"

CacheMode = Literal["deterministic", "always", "off"]

_UNSTORABLE_FINISH = frozenset({"content_filter", "error"})


@dataclass(frozen=True, slots=True)
class AliasCachePolicy:
    """Cache settings of one model alias."""

    mode: CacheMode = "deterministic"
    ttl: float = 3600.0
    max_ttl: float = 86400.0


@dataclass(frozen=True, slots=True)
class CacheControl:
    """What the client asked for in this one request."""

    no_cache: bool = False
    no_store: bool = False
    ttl: float | None = None

    def merge(self, other: CacheControl) -> CacheControl:
        """Union of two controls; the shorter TTL wins."""
        ttls = [t for t in (self.ttl, other.ttl) if t is not None]
        return CacheControl(
            no_cache=self.no_cache or other.no_cache,
            no_store=self.no_store or other.no_store,
            ttl=min(ttls) if ttls else None,
        )


NO_CONTROL = CacheControl()


@dataclass(frozen=True, slots=True)
class CacheDecision:
    """The outcome for one request: whether to read, write, coalesce, and for how long."""

    read: bool
    write: bool
    ttl: float
    reason: str

    @property
    def coalesce(self) -> bool:
        """Share an in-flight upstream call only when a cached answer would be acceptable."""
        return self.read


#: the two decisions that read and write nothing (frozen: one object each)
_OFF = CacheDecision(read=False, write=False, ttl=0.0, reason="off")
_NONDETERMINISTIC = CacheDecision(read=False, write=False, ttl=0.0, reason="nondeterministic")


def _ttl(raw: Any, where: str) -> float:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise BadRequestError(f"{where}: ttl must be a number of seconds.", param="cache") from None
    if isinstance(raw, bool) or not value >= 0 or value == float("inf"):
        raise BadRequestError(f"{where}: ttl must be a finite number >= 0.", param="cache")
    return value


def parse_header_control(value: str | None) -> CacheControl:
    """Parse ``x-lockgate-cache: no-cache, no-store, ttl=SECONDS``."""
    if not value:
        return NO_CONTROL
    no_cache = no_store = False
    ttl: float | None = None
    for part in value.split(","):
        token = part.strip().lower()
        if not token:
            continue
        if token == "no-cache":
            no_cache = True
        elif token == "no-store":
            no_store = True
        elif token.startswith("ttl="):
            ttl = _ttl(token[4:], CACHE_HEADER)
        else:
            raise BadRequestError(
                f"{CACHE_HEADER}: unknown directive {token!r} "
                "(expected no-cache, no-store or ttl=SECONDS).",
                param=CACHE_HEADER,
            )
    return CacheControl(no_cache=no_cache, no_store=no_store, ttl=ttl)


def parse_body_control(raw: Any) -> CacheControl:
    """Parse the body field ``"cache": {"no_cache": bool, "no_store": bool, "ttl": number}``."""
    if raw is None:
        return NO_CONTROL
    if not isinstance(raw, dict):
        raise BadRequestError("'cache' must be an object.", param="cache")
    unknown = set(raw) - {"no_cache", "no_store", "ttl"}
    if unknown:
        raise BadRequestError(f"'cache' has unknown fields {sorted(unknown)}.", param="cache")
    flags = {}
    for name in ("no_cache", "no_store"):
        flag = raw.get(name, False)
        if not isinstance(flag, bool):
            raise BadRequestError(f"'cache.{name}' must be a boolean.", param="cache")
        flags[name] = flag
    ttl = raw.get("ttl")
    return CacheControl(
        no_cache=flags["no_cache"],
        no_store=flags["no_store"],
        ttl=None if ttl is None else _ttl(ttl, "cache"),
    )


def request_control(header: str | None, body: Mapping[str, Any]) -> CacheControl:
    """The combined control of the header and the body field."""
    from_header = parse_header_control(header)
    if "cache" not in body:
        return from_header
    return from_header.merge(parse_body_control(body["cache"]))


def strip_cache_field(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` without lockgate's ``cache`` field; the input is never mutated.

    Returns the very same dict when there is nothing to strip (the common case),
    otherwise a shallow copy.
    """
    if "cache" not in body:
        return body
    return {k: v for k, v in body.items() if k != "cache"}


def is_deterministic(body: Mapping[str, Any]) -> bool:
    """``temperature == 0`` or an explicit ``seed``; absent temperature means 1."""
    if body.get("seed") is not None:
        return True
    temperature = body.get("temperature")
    return (
        isinstance(temperature, int | float)
        and not isinstance(temperature, bool)
        and temperature == 0
    )


def decide(
    body: Mapping[str, Any],
    policy: AliasCachePolicy,
    control: CacheControl = NO_CONTROL,
) -> CacheDecision:
    """Whether this request may be answered from, and written to, the cache."""
    if policy.mode == "off":
        return _OFF
    if policy.mode == "deterministic" and not is_deterministic(body):
        return _NONDETERMINISTIC
    ttl = policy.ttl if control.ttl is None else min(control.ttl, policy.max_ttl)
    write = not control.no_store and ttl > 0
    read = not control.no_cache
    if not read and not write:
        reason = "bypass"
    elif not read:
        reason = "no-cache"
    elif not write:
        reason = "no-store"
    else:
        reason = "cacheable"
    return CacheDecision(read=read, write=write, ttl=ttl if write else 0.0, reason=reason)


def storable_completion(completion: Mapping[str, Any]) -> bool:
    """Whether a finished ``chat.completion`` may be stored."""
    if "error" in completion:
        return False
    choices = completion.get("choices")
    if not isinstance(choices, list) or not choices:
        return False
    for choice in choices:
        if not isinstance(choice, dict):
            return False
        reason = choice.get("finish_reason")
        if not reason or reason in _UNSTORABLE_FINISH:
            return False
    return True
