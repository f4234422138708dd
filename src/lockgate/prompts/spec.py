"""What a prompt file (or ``POST /admin/prompts``) holds, validated once (pure).

A prompt file::

    name: support
    messages:                       # the template: a chat message list
      - {role: system, content: "You help customers of {{ company }}."}
      - {role: user, content: "{{ question }}"}
    model: gpt-4o-mini              # optional: the alias requests go to
    params: {temperature: 0.2}      # optional: defaults for the request body
    tools: []                       # optional: OpenAI tools
    variables:                      # optional: JSON Schema of the variables
      type: object
      properties: {company: {type: string}, question: {type: string}}
      required: [company, question]
    labels: [production]            # optional: labels moved to the new version
    message: "tone down the greeting"
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from lockgate.errors import BadRequestError

__all__ = ["LABEL_PATTERN", "NAME_PATTERN", "PromptMessage", "PromptSpec", "parse_spec"]

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-/]{0,199}$"
LABEL_PATTERN = r"^[A-Za-z][A-Za-z0-9_.\-]{0,63}$"


class PromptMessage(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None


class PromptSpec(BaseModel):
    """One prompt version's content (the file's fields minus ``labels``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME_PATTERN)
    messages: list[PromptMessage] = Field(min_length=1)
    model: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    tools: list[dict[str, Any]] | None = None
    variables: dict[str, Any] | None = None
    labels: list[str] = Field(default_factory=list)
    message: str | None = Field(default=None, max_length=2000)
    author: str | None = Field(default=None, max_length=200)

    @field_validator("variables")
    @classmethod
    def _schema_is_valid(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            import jsonschema  # only for prompt specs that declare variables

            try:
                jsonschema.Draft202012Validator.check_schema(value)
            except jsonschema.SchemaError as exc:
                raise ValueError(f"not a valid JSON Schema: {exc.message}") from None
        return value

    @field_validator("labels")
    @classmethod
    def _labels_are_names(cls, value: list[str]) -> list[str]:
        for label in value:
            if not re.match(LABEL_PATTERN, label):
                raise ValueError(f"label {label!r} must match {LABEL_PATTERN}")
        return value

    @field_validator("params")
    @classmethod
    def _params_are_body_fields(cls, value: dict[str, Any]) -> dict[str, Any]:
        reserved = {"messages", "model", "prompt", "stream"} & set(value)
        if reserved:
            raise ValueError(f"params may not set {sorted(reserved)}")
        return value

    def content(self) -> dict[str, Any]:
        """What a version stores: everything but labels, author and message."""
        return self.model_dump(
            mode="json", exclude={"labels", "author", "message"}, exclude_none=True
        )

    def digest(self) -> str:
        """A hash of the content, so pushing the same file twice makes no new version."""
        raw = orjson.dumps(self.content(), option=orjson.OPT_SORT_KEYS)
        return hashlib.sha256(raw).hexdigest()


def parse_spec(data: Any, *, name: str | None = None) -> PromptSpec:
    """A ``PromptSpec`` from a mapping, or a ``BadRequestError`` naming the bad field."""
    if not isinstance(data, dict):
        raise BadRequestError("A prompt must be a JSON/YAML object.")
    if name is not None:
        data = {"name": name, **data}
    try:
        return PromptSpec.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "(root)"
        raise BadRequestError(f"prompt {loc}: {err['msg']}", param=loc) from None
