"""The prompt registry: versioned chat templates, movable labels, rendering.

The small public API (also for tools outside the gateway, such as evaluations)::

    from lockgate.prompts import open_registry

    async with open_registry(database_url) as registry:
        res = await registry.get("support@production")   # name@label, name@7, or name
        res.ref        # "support@7"
        res.model      # the version's model alias (or None)
        res.render({"question": "..."})                   # the filled message list

``render`` raises ``lockgate.errors.BadRequestError`` naming missing, extra or invalid
variables; an unknown name, label or version is a ``NotFoundError``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lockgate.prompts.registry import PromptRegistry, Resolution, parse_ref
    from lockgate.prompts.service import open_registry
    from lockgate.prompts.spec import PromptSpec, parse_spec
    from lockgate.prompts.template import CompiledPrompt, PromptVersion, compile_version

__all__ = [
    "CompiledPrompt",
    "PromptRegistry",
    "PromptSpec",
    "PromptVersion",
    "Resolution",
    "compile_version",
    "open_registry",
    "parse_ref",
    "parse_spec",
]

# Lazy: settings imports ``lockgate.prompts.config``, which must not pull in the
# registry (and through it the request context) while settings is half-built.
_HOMES = {
    "PromptRegistry": "registry",
    "Resolution": "registry",
    "parse_ref": "registry",
    "open_registry": "service",
    "PromptSpec": "spec",
    "parse_spec": "spec",
    "CompiledPrompt": "template",
    "PromptVersion": "template",
    "compile_version": "template",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'lockgate.prompts' has no attribute {name!r}")
    return getattr(importlib.import_module(f"lockgate.prompts.{home}"), name)
