"""The deterministic assertions (pure): text, JSON, tool calls, latency, cost, tokens."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from lockgate.evals.answer import Answer
from lockgate.evals.verdict import Verdict

__all__ = ["DETERMINISTIC", "check"]


def _ok(kind: str, passed: bool, reason: str) -> Verdict:
    return Verdict(kind, "pass" if passed else "fail", reason)


def _short(text: str, n: int = 80) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _as_list(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _equals(a: Answer, value: Any) -> Verdict:
    got = a.text.strip()
    want = str(value).strip()
    return _ok("equals", got == want, f"expected {_short(want)!r}, got {_short(got)!r}")


def _contains(a: Answer, value: Any) -> Verdict:
    missing = [v for v in _as_list(value) if v not in a.text]
    return _ok("contains", not missing, f"missing {missing}" if missing else "all present")


def _not_contains(a: Answer, value: Any) -> Verdict:
    found = [v for v in _as_list(value) if v in a.text]
    return _ok("not_contains", not found, f"found {found}" if found else "none present")


@lru_cache(maxsize=256)
def _pattern(source: str) -> re.Pattern[str]:
    return re.compile(source)


def _regex(a: Answer, value: Any) -> Verdict:
    try:
        pattern = _pattern(str(value))
    except re.error as exc:
        return Verdict("regex", "error", f"bad pattern {value!r}: {exc}")
    hit = pattern.search(a.text) is not None
    return _ok("regex", hit, f"/{value}/ {'matches' if hit else 'does not match'}")


def _parse_json(text: str) -> tuple[bool, Any, str]:
    body = text.strip()
    if body.startswith("```"):  # a fenced block is still JSON to a reader
        body = body.strip("`").removeprefix("json").strip()
    try:
        return True, json.loads(body), "valid JSON"
    except json.JSONDecodeError as exc:
        return False, None, f"not JSON: {exc.msg} at {exc.pos}"


def _is_json(a: Answer, value: Any) -> Verdict:
    ok, _, reason = _parse_json(a.text)
    return _ok("is_json", ok, reason)


def _schema_errors(instance: Any, schema: Any) -> list[str] | str:
    """The validation errors (empty: valid), or a string when the schema itself is bad."""
    import jsonschema

    try:
        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        return f"bad schema: {exc.message}"
    validator = cls(schema)
    return [
        f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}"
        for e in validator.iter_errors(instance)
    ]


def _json_schema(a: Answer, value: Any) -> Verdict:
    ok, data, reason = _parse_json(a.text)
    if not ok:
        return Verdict("json_schema", "fail", reason)
    errors = _schema_errors(data, value)
    if isinstance(errors, str):
        return Verdict("json_schema", "error", errors)
    return _ok("json_schema", not errors, "; ".join(errors[:3]) or "matches the schema")


def _tool_call(a: Answer, value: Any) -> Verdict:
    spec = value if isinstance(value, dict) else {"name": value} if value else {}
    name = spec.get("name")
    schema = spec.get("schema") or spec.get("arguments")
    calls = [c for c in a.tool_calls if name is None or c.get("name") == name]
    if not calls:
        made = [c.get("name") for c in a.tool_calls]
        return Verdict("tool_call", "fail", f"no call to {name or 'any tool'} (calls: {made})")
    if schema is None:
        return Verdict("tool_call", "pass", f"called {calls[0].get('name')}")
    reasons = []
    for call in calls:
        errors = _schema_errors(call.get("arguments"), schema)
        if isinstance(errors, str):
            return Verdict("tool_call", "error", errors)
        if not errors:
            return Verdict("tool_call", "pass", f"called {call.get('name')} with valid arguments")
        reasons.extend(errors)
    return Verdict("tool_call", "fail", "arguments: " + "; ".join(reasons[:3]))


def _limit(kind: str, got: float, value: Any, unit: str) -> Verdict:
    try:
        limit = float(value)
    except (TypeError, ValueError):
        return Verdict(kind, "error", f"{kind} needs a number, got {value!r}")
    return _ok(kind, got <= limit, f"{got:.6g}{unit} (limit {limit:g}{unit})")


def _max_latency(a: Answer, value: Any) -> Verdict:
    return _limit("max_latency_ms", a.latency_ms, value, " ms")


def _max_cost(a: Answer, value: Any) -> Verdict:
    return _limit("max_cost_usd", a.cost_usd, value, " USD")


def _max_tokens(a: Answer, value: Any) -> Verdict:
    return _limit("max_tokens", a.completion_tokens, value, " tokens")


DETERMINISTIC: dict[str, Callable[[Answer, Any], Verdict]] = {
    "equals": _equals,
    "contains": _contains,
    "not_contains": _not_contains,
    "regex": _regex,
    "is_json": _is_json,
    "json_schema": _json_schema,
    "tool_call": _tool_call,
    "max_latency_ms": _max_latency,
    "max_cost_usd": _max_cost,
    "max_tokens": _max_tokens,
}


def check(kind: str, answer: Answer, value: Any) -> Verdict:
    """Run one deterministic assertion."""
    if value is None and kind not in ("is_json", "tool_call"):
        return Verdict(kind, "error", f"{kind} needs a value")
    return DETERMINISTIC[kind](answer, value)
