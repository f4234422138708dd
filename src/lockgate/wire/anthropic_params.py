"""OpenAI chat parameters on an Anthropic upstream: translate, refuse, or drop.

Anthropic's Messages API has no ``n``, ``logprobs``, ``seed``... A parameter it
cannot honour is refused with a 400 that names it, so a client never gets an
answer that silently ignored what it asked for; a deployment configured with
``drop_params: true`` (LiteLLM's switch) drops them instead.

``response_format`` (``json_schema`` or ``json_object``) becomes one extra tool
whose input schema is the requested schema, forced with ``tool_choice`` when the
request has no tools of its own (the method Anthropic documents for JSON output);
the answer's call of that tool is turned back into the message's JSON text.
"""

from __future__ import annotations

from typing import Any

from lockgate.errors import UnsupportedParamError

__all__ = ["RESPONSE_FORMAT_TOOL", "check_params", "response_format_tool"]

#: name of the tool that carries a ``response_format`` schema
RESPONSE_FORMAT_TOOL = "json_output"

#: parameter -> whether a value is harmless (the API's own default)
_UNSUPPORTED: dict[str, Any] = {
    "n": lambda v: v in (None, 1),
    "logprobs": lambda v: v in (None, False),
    "top_logprobs": lambda v: v in (None, 0),
    "seed": lambda v: v is None,
    "reasoning_effort": lambda v: v is None,
    "frequency_penalty": lambda v: v in (None, 0),
    "presence_penalty": lambda v: v in (None, 0),
    "logit_bias": lambda v: not v,
    "audio": lambda v: v is None,
    "modalities": lambda v: v in (None, ["text"]),
    "prediction": lambda v: v is None,
    "web_search_options": lambda v: v is None,
    "service_tier": lambda v: v in (None, "auto", "default"),
}


def check_params(body: dict[str, Any], *, drop: bool) -> float | None:
    """Refuse parameters Anthropic cannot honour; returns the temperature to send.

    Anthropic's temperature range is 0..1 where OpenAI's is 0..2: a larger value
    is refused rather than lowered without a word (lowered when ``drop``).
    """
    if not drop:
        for name, harmless in _UNSUPPORTED.items():
            if name in body and not harmless(body[name]):
                raise UnsupportedParamError(
                    f"'{name}' is not supported by this model's provider (Anthropic);"
                    " remove it, or set drop_params: true on the deployment to drop it.",
                    param=name,
                )
    temperature = body.get("temperature")
    if temperature is None or isinstance(temperature, bool):
        return None
    if not isinstance(temperature, int | float):
        return None
    if temperature > 1.0 and not drop:
        raise UnsupportedParamError(
            f"'temperature' {temperature} is above 1.0, the most this model's provider"
            " (Anthropic) accepts; set drop_params: true on the deployment to lower it.",
            param="temperature",
        )
    return min(float(temperature), 1.0)


def response_format_tool(response_format: Any) -> dict[str, Any] | None:
    """The Anthropic tool standing for ``response_format`` (None for plain text)."""
    if not isinstance(response_format, dict):
        return None
    kind = response_format.get("type")
    if kind == "json_schema":
        spec = response_format.get("json_schema") or {}
        schema = spec.get("schema") or {"type": "object"}
        description = spec.get("description") or (
            f"Answer with the structured output {spec.get('name', 'response')!r}."
        )
    elif kind == "json_object":
        schema = {"type": "object", "additionalProperties": True}
        description = "Answer with a JSON object."
    else:
        return None
    return {"name": RESPONSE_FORMAT_TOOL, "description": description, "input_schema": schema}
