"""Case variables filled into messages and assertion values with sandboxed Jinja2.

A suite file may come from anyone on the team, so templates run in Jinja2's
``SandboxedEnvironment`` (no attribute access to internals, no imports) and a
missing variable is an error rather than an empty string.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from lockgate.evals.suite import SuiteError

__all__ = ["render_messages", "render_text", "render_value"]


@lru_cache(maxsize=1)
def _env() -> SandboxedEnvironment:
    return SandboxedEnvironment(
        undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True
    )


@lru_cache(maxsize=4096)
def _compile(source: str) -> Any:
    return _env().from_string(source)


def render_text(source: str, variables: dict[str, Any]) -> str:
    if "{{" not in source and "{%" not in source and "{#" not in source:
        return source  # no tags: skip the template engine (and leave regex braces alone)
    try:
        out: str = _compile(source).render(**variables)
    except TemplateError as exc:
        raise SuiteError(f"template {source[:60]!r}: {exc}") from None
    return out


def render_value(value: Any, variables: dict[str, Any]) -> Any:
    """Strings anywhere inside ``value`` (lists, mappings) rendered; the rest as is."""
    if isinstance(value, str):
        return render_text(value, variables)
    if isinstance(value, list):
        return [render_value(v, variables) for v in value]
    if isinstance(value, dict):
        return {k: render_value(v, variables) for k, v in value.items()}
    return value


def render_messages(
    messages: list[dict[str, Any]], variables: dict[str, Any]
) -> list[dict[str, Any]]:
    return [render_value(m, variables) for m in messages]
