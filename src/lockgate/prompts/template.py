"""Compiled prompt versions and rendering (pure).

Templates are rendered with Jinja2's ``SandboxedEnvironment`` (no attribute access to
internals, no file system) and ``StrictUndefined``.  Before rendering, the variables are
checked: every variable a template uses or the JSON Schema requires must be given
(missing → 400 naming them), and none may be given that neither uses or declares
(extra → 400 naming them); then the JSON Schema, when present, validates the values.
A compiled version keeps its Jinja templates and schema validator, so a render costs
only the template calls (see bench/bench_prompts.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lockgate.errors import BadRequestError

if TYPE_CHECKING:  # Jinja2 loads with the first compiled prompt (idle memory, start-up)
    from jinja2 import Template
    from jinja2.sandbox import SandboxedEnvironment

__all__ = ["CompiledPrompt", "PromptVersion", "compile_version", "environment"]


def environment() -> SandboxedEnvironment:
    """The one sandboxed Jinja environment templates compile in."""
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment(
        undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True
    )


@dataclass(frozen=True, slots=True)
class PromptVersion:
    """One immutable, numbered version as stored."""

    name: str
    version: int
    content: dict[str, Any]
    author: str | None = None
    message: str | None = None
    created_at: float = 0.0
    digest: str = ""

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def model(self) -> str | None:
        model = self.content.get("model")
        return model if isinstance(model, str) else None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            **self.content,
            "author": self.author,
            "message": self.message,
            "created_at": self.created_at,
            "digest": self.digest,
        }


@dataclass(slots=True)
class CompiledPrompt:
    version: PromptVersion
    #: per message: its fixed fields and its compiled content (None: content not templated)
    parts: list[tuple[dict[str, Any], Template | None]]
    referenced: frozenset[str]
    declared: frozenset[str]
    required: frozenset[str]
    validator: Any = None
    #: body fields the version adds (params, tools)
    defaults: dict[str, Any] = field(default_factory=dict)

    def check(self, variables: Mapping[str, Any]) -> None:
        """A 400 naming missing or extra variables, or the first schema violation."""
        given = set(variables)
        missing = sorted((self.referenced | self.required) - given)
        extra = sorted(given - self.referenced - self.declared)
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"missing variables: {', '.join(missing)}")
            if extra:
                parts.append(f"unexpected variables: {', '.join(extra)}")
            raise BadRequestError(
                f"prompt {self.version.ref}: {'; '.join(parts)}.",
                param="prompt.variables",
                code="prompt_variables",
            )
        if self.validator is not None:
            from jsonschema.exceptions import best_match

            err = best_match(self.validator.iter_errors(dict(variables)))
            if err is not None:
                where = ".".join(str(p) for p in err.absolute_path) or "(root)"
                raise BadRequestError(
                    f"prompt {self.version.ref}: variables.{where}: {err.message}",
                    param="prompt.variables",
                    code="prompt_variables",
                )

    def render(self, variables: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The filled message list (new dicts; the compiled parts are never mutated)."""
        self.check(variables)
        out: list[dict[str, Any]] = []
        try:
            for fixed, tmpl in self.parts:
                if tmpl is None:
                    out.append(dict(fixed))
                else:
                    out.append({**fixed, "content": tmpl.render(variables)})
        except Exception as exc:
            from jinja2.exceptions import SecurityError, UndefinedError

            if not isinstance(exc, UndefinedError | SecurityError | TypeError | ValueError):
                raise
            raise BadRequestError(
                f"prompt {self.version.ref}: rendering failed: {exc}",
                param="prompt.variables",
                code="prompt_render_failed",
            ) from None
        return out


def compile_version(
    version: PromptVersion, env: SandboxedEnvironment | None = None
) -> CompiledPrompt:
    """Parse every message template once; a template error is a 400 naming the message."""
    from jinja2 import TemplateSyntaxError, meta

    env = env or environment()
    parts: list[tuple[dict[str, Any], Template | None]] = []
    referenced: set[str] = set()
    for i, msg in enumerate(version.content.get("messages") or []):
        content = msg.get("content")
        fixed = {k: v for k, v in msg.items() if k != "content"}
        if not isinstance(content, str):
            parts.append(({**fixed, "content": content} if "content" in msg else fixed, None))
            continue
        try:
            ast = env.parse(content)
        except TemplateSyntaxError as exc:
            raise BadRequestError(
                f"prompt {version.ref}: messages[{i}]: template error: {exc.message}",
                param=f"messages[{i}].content",
            ) from None
        found = meta.find_undeclared_variables(ast)
        if not found:
            parts.append(({**fixed, "content": content}, None))
            continue
        referenced |= found
        parts.append((fixed, env.from_string(content)))
    schema = version.content.get("variables")
    declared: frozenset[str] = frozenset()
    required: frozenset[str] = frozenset()
    validator = None
    if isinstance(schema, dict):
        declared = frozenset((schema.get("properties") or {}).keys())
        required = frozenset(schema.get("required") or ())
        from jsonschema import Draft202012Validator  # only for prompts that declare variables

        validator = Draft202012Validator(schema)
    defaults = dict(version.content.get("params") or {})
    if version.content.get("tools"):
        defaults["tools"] = version.content["tools"]
    return CompiledPrompt(
        version=version,
        parts=parts,
        referenced=frozenset(referenced),
        declared=declared,
        required=required,
        validator=validator,
        defaults=defaults,
    )
