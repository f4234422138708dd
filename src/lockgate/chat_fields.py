"""Checks of an OpenAI chat body's fields, before any stage runs (pure, hot path).

Only the fields present are looked at, each by one small function from a table, so a
typical body (model, messages, maybe max_tokens and temperature) costs about a
microsecond; pydantic per request measured several times that.  A wrong field is a
400 naming it in ``param``: a negative ``max_tokens`` must never reach the limits
stage (it would turn a token reservation into a credit), and a wrongly typed field
must not become an upstream 400 after retries, or a 500.

The bounds are OpenAI's documented ranges; ``max_tokens`` is also capped by
``MAX_TOKENS_CEILING`` here and by the alias's ``max_output_tokens`` once the model
is known (:func:`check_output_limit`).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import orjson

from lockgate.errors import BadRequestError

__all__ = [
    "MAX_JSON_DEPTH",
    "MAX_TOKENS_CEILING",
    "as_sent",
    "check_chat_fields",
    "check_output_limit",
    "json_too_deep",
]

#: no model writes more in one answer; beyond it a value is a mistake or an attack
MAX_TOKENS_CEILING = 1_000_000
#: nesting a request or an upstream answer may have: what orjson can write back
MAX_JSON_DEPTH = 254
_MAX_STOP = 16
_MAX_TOOLS = 512
_MAX_N = 128


def _bad(param: str, message: str) -> BadRequestError:
    return BadRequestError(f"'{param}' {message}", param=param)


def _number(name: str, value: Any, low: float, high: float) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not low <= value <= high
    ):
        raise _bad(name, f"must be a number from {low:g} to {high:g}.")


def _positive_int(name: str, value: Any, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
        raise _bad(name, f"must be an integer from 1 to {high}.")


def _max_tokens(name: str, value: Any) -> None:
    if value is not None:
        _positive_int(name, value, MAX_TOKENS_CEILING)


def _temperature(name: str, value: Any) -> None:
    if value is not None:
        _number(name, value, 0.0, 2.0)


def _unit(name: str, value: Any) -> None:
    if value is not None:
        _number(name, value, 0.0, 1.0)


def _penalty(name: str, value: Any) -> None:
    if value is not None:
        _number(name, value, -2.0, 2.0)


def _n(name: str, value: Any) -> None:
    if value is not None:
        _positive_int(name, value, _MAX_N)


def _stop(name: str, value: Any) -> None:
    if value is None or isinstance(value, str):
        return
    if (
        not isinstance(value, list)
        or len(value) > _MAX_STOP
        or not all(isinstance(s, str) for s in value)
    ):
        raise _bad(name, f"must be a string or an array of at most {_MAX_STOP} strings.")


def _tools(name: str, value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, list) or len(value) > _MAX_TOOLS:
        raise _bad(name, f"must be an array of at most {_MAX_TOOLS} tools.")
    for i, tool in enumerate(value):
        fn = tool.get("function") if isinstance(tool, dict) else None
        if (
            not isinstance(tool, dict)
            or not isinstance(tool.get("type", "function"), str)
            or not isinstance(fn, dict)
            or not isinstance(fn.get("name"), str)
            or not fn["name"]
        ):
            raise BadRequestError(
                f"'{name}[{i}]' must be an object with a function that has a name.",
                param=f"{name}[{i}]",
            )


def _tool_choice(name: str, value: Any) -> None:
    if value is None or isinstance(value, dict) or value in ("none", "auto", "required"):
        return
    raise _bad(name, "must be 'none', 'auto', 'required' or an object.")


def _object(name: str, value: Any) -> None:
    if value is not None and not isinstance(value, dict):
        raise _bad(name, "must be an object.")


def _string(name: str, value: Any) -> None:
    if value is not None and not isinstance(value, str):
        raise _bad(name, "must be a string.")


def _boolean(name: str, value: Any) -> None:
    if value is not None and not isinstance(value, bool):
        raise _bad(name, "must be a boolean.")


def _integer(name: str, value: Any) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise _bad(name, "must be an integer.")


def _top_logprobs(name: str, value: Any) -> None:
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 20
    ):
        raise _bad(name, "must be an integer from 0 to 20.")


_CHECKS: dict[str, Callable[[str, Any], None]] = {
    "max_tokens": _max_tokens,
    "max_completion_tokens": _max_tokens,
    "temperature": _temperature,
    "top_p": _unit,
    "n": _n,
    "presence_penalty": _penalty,
    "frequency_penalty": _penalty,
    "stop": _stop,
    "tools": _tools,
    "tool_choice": _tool_choice,
    "response_format": _object,
    "logit_bias": _object,
    "metadata": _object,
    "user": _string,
    "seed": _integer,
    "logprobs": _boolean,
    "top_logprobs": _top_logprobs,
    "parallel_tool_calls": _boolean,
}


def check_chat_fields(body: dict[str, Any]) -> None:
    """Raise ``BadRequestError`` (``param`` = the field) for the first invalid field."""
    checks = _CHECKS
    for name, value in body.items():
        check = checks.get(name)
        if check is not None:
            check(name, value)


def check_output_limit(body: dict[str, Any], limit: int | None) -> None:
    """``max_tokens``/``max_completion_tokens`` within the model's ``limit`` (if it has one)."""
    if limit is None:
        return
    for name in ("max_completion_tokens", "max_tokens"):
        value = body.get(name)
        if isinstance(value, int) and value > limit:
            raise _bad(name, f"is {value}, more than this model's limit of {limit} tokens.")


def json_too_deep(value: Any, raw: bytes | None = None) -> bool:
    """Whether ``value`` nests deeper than JSON can be written back (orjson stops at 254).

    Writing it is the check: orjson does it in C, a fraction of a microsecond for a
    typical body, where a walk in Python took several; and whatever passes can be
    sent upstream, cached, audited and answered without a recursion error later.
    ``raw``, the JSON ``value`` was parsed from: nesting needs an opening bracket per
    level, so with fewer brackets than the limit it is not written again to find out.
    """
    if raw is not None and raw.count(b"{") + raw.count(b"[") < 254:
        return False
    try:
        orjson.dumps(value)
    except orjson.JSONEncodeError:
        return True
    return False


@contextlib.contextmanager
def as_sent(names: Mapping[str, str]) -> Iterator[None]:
    """A 400 about a chat field that another wire's field became (``names``: chat field ->
    the field the client sent) names the field the client sent, in ``param`` and in the
    message: an Anthropic client sent ``stop_sequences``, not ``stop``."""
    try:
        yield
    except BadRequestError as err:
        sent = names.get(err.param or "")
        if sent is not None:
            err.message = err.message.replace(f"'{err.param}'", f"'{sent}'")
            err.param = sent
        raise
