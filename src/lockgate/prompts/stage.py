"""The prompt stage: before routing, turn ``"prompt": {...}`` into messages and a model.

A chat body may carry::

    "prompt": {"name": "support", "label": "production",   # or "version": 3
               "variables": {"question": "Where is my parcel?"}}

The label resolves to a version (a running experiment or rollout on that label picks
the unit's variant), the template is rendered, and the client's own ``messages`` are
appended after the template's.  The model is the variant's, else the version's, else
the client's; the version's ``params`` and ``tools`` fill fields the client left out.
The response carries ``x-lockgate-prompt: support@7`` (and ``x-lockgate-experiment``
when a variant served it); usage rows, audit records and spans carry the same.
"""

from __future__ import annotations

from typing import Any

from lockgate.chat import ChatRequest, parse_chat_request
from lockgate.context import RequestContext
from lockgate.errors import BadRequestError
from lockgate.experiments.spec import Unit
from lockgate.prompts.registry import PromptRegistry, Resolution

__all__ = ["ContextUnits", "PromptStage", "parse_prompt_field"]


class ContextUnits:
    """Assignment units read from a request's context."""

    __slots__ = ("_ctx",)

    def __init__(self, ctx: RequestContext) -> None:
        self._ctx = ctx

    def get(self, kind: Unit, header: str) -> str | None:
        ctx = self._ctx
        if kind == "user":
            return ctx.user
        if kind == "session":
            return ctx.client_headers.get(header)
        if kind == "key":
            return ctx.principal.key_id or ctx.principal.name
        return ctx.request_id


def parse_prompt_field(
    raw: Any,
) -> tuple[str, str | None, int | None, dict[str, Any]]:
    """(name, label, version, variables) from a ``prompt`` object, or a 400."""
    if not isinstance(raw, dict):
        raise BadRequestError("'prompt' must be an object.", param="prompt")
    unknown = set(raw) - {"name", "label", "version", "variables"}
    if unknown:
        raise BadRequestError(f"'prompt' has unknown fields {sorted(unknown)}.", param="prompt")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise BadRequestError("'prompt.name' is required.", param="prompt.name")
    label, version = raw.get("label"), raw.get("version")
    if label is not None and version is not None:
        raise BadRequestError("Give 'prompt.label' or 'prompt.version', not both.", param="prompt")
    if label is not None and (not isinstance(label, str) or not label):
        raise BadRequestError("'prompt.label' must be a string.", param="prompt.label")
    if version is not None and (
        isinstance(version, bool) or not isinstance(version, int) or version < 1
    ):
        raise BadRequestError(
            "'prompt.version' must be a positive integer.", param="prompt.version"
        )
    variables = raw.get("variables") or {}
    if not isinstance(variables, dict):
        raise BadRequestError("'prompt.variables' must be an object.", param="prompt.variables")
    return name, label, version, variables


class PromptStage:
    name = "prompt"

    def __init__(self, registry: PromptRegistry) -> None:
        self.registry = registry

    async def apply(self, ctx: RequestContext, chat: ChatRequest) -> ChatRequest:
        """The request with the prompt rendered in (``chat`` itself is not changed)."""
        name, label, version, variables = parse_prompt_field(chat.body.get("prompt"))
        res = await self.registry.resolve(
            name, label=label, version=version, units=ContextUnits(ctx)
        )
        messages = res.render(variables)
        body = {k: v for k, v in chat.body.items() if k != "prompt"}
        client = body.get("messages") or []
        if not isinstance(client, list):
            raise BadRequestError("'messages' must be an array.", param="messages")
        body["messages"] = [*messages, *client]
        for field, value in res.prompt.defaults.items():
            body.setdefault(field, value)
        model = res.model or body.get("model")
        if not model:
            raise BadRequestError(f"Prompt {res.ref} names no model; give 'model'.", param="model")
        body["model"] = model
        rendered = parse_chat_request(body)
        note(ctx, res)
        return rendered


def note(ctx: RequestContext, res: Resolution) -> None:
    """Put the resolved prompt on the response, the records and the span."""
    ref = res.ref
    ctx.headers["x-lockgate-prompt"] = ref
    ctx.notes["prompt_version"] = ref
    prompt: dict[str, Any] = {
        "name": res.prompt.version.name,
        "version": res.prompt.version.version,
        "label": res.label,
    }
    if res.experiment is not None:
        ctx.notes["experiment"] = {
            "name": res.experiment,
            "variant": res.variant,
            "unit": res.unit,
        }
        ctx.headers["x-lockgate-experiment"] = f"{res.experiment}:{res.variant}"
        prompt["experiment"] = res.experiment
        prompt["variant"] = res.variant
    ctx.notes["prompt"] = prompt
