"""The ``guardrails:`` section of the config file, and policies resolved from it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from lockgate.guards.pii.finding import ALL_TYPES

__all__ = [
    "GuardPolicy",
    "GuardrailSettings",
    "IndirectInjectionSettings",
    "InjectionSettings",
    "PiiSettings",
    "PolicyOverride",
    "key_override",
]

InjectionMode = Literal["block", "flag", "log", "off"]
IndirectMode = Literal["block", "strip", "flag", "log", "off"]
PiiInputMode = Literal["redact", "block", "off"]
PiiOutputMode = Literal["redact", "off"]
OnError = Literal["fail_open", "fail_closed"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IndirectInjectionSettings(_Model):
    """Screening of data: tool results (``role: tool``, Anthropic ``tool_result``) and documents.

    Instructions inside data are the signal, so it is scored sentence by sentence,
    separately from the user's turn, against its own threshold.
    """

    #: block: refuse (400); strip: remove the offending sentences from the data and answer;
    #: flag: answer, with a header and an audit note; log: audit note only
    mode: IndirectMode = "flag"
    #: from leave-one-source-out scores (session 8): the point where both 95% intervals
    #: clear their targets by the widest margin - recall on real third-party injected
    #: documents 0.659 [0.612, 0.704] (n=405), benign documents flagged 0.038
    #: [0.032, 0.046] (n=2,971); 0.55 in session 7, 0.6 before
    threshold: float = Field(default=0.58, ge=0, le=1)


class InjectionSettings(_Model):
    #: block: refuse (400); flag: answer, with a header and an audit note; log: audit note only
    mode: InjectionMode = "flag"
    threshold: float = Field(default=0.6, ge=0, le=1)
    on_error: OnError = "fail_open"
    #: tool results and documents (``mode: off`` here still screens the user's turn)
    indirect: IndirectInjectionSettings = Field(default_factory=IndirectInjectionSettings)


class PiiSettings(_Model):
    #: redact: replace entities by placeholders before the request leaves; block: refuse it
    input: PiiInputMode = "off"
    #: redact: remove entities the model writes in its answer (streams included)
    output: PiiOutputMode = "off"
    #: put the caller's own redacted values back into the answer
    restore_output: bool = True
    types: list[str] = Field(default_factory=lambda: sorted(ALL_TYPES))

    @field_validator("types")
    @classmethod
    def _known_types(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(ALL_TYPES))
        if unknown:
            raise ValueError(f"unknown entity types {unknown}; known: {sorted(ALL_TYPES)}")
        return value


class PolicyOverride(_Model):
    """Per-alias (config) or per-key (key metadata ``guardrails``) overrides."""

    injection: InjectionSettings | None = None
    pii: PiiSettings | None = None
    max_input_chars: int | None = Field(default=None, gt=0)


class GuardrailSettings(_Model):
    max_input_chars: int = Field(default=400_000, gt=0)
    injection: InjectionSettings = Field(default_factory=InjectionSettings)
    pii: PiiSettings = Field(default_factory=PiiSettings)
    aliases: dict[str, PolicyOverride] = Field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class GuardPolicy:
    """The guard settings that apply to one request (alias and key overrides applied)."""

    max_input_chars: int
    injection: InjectionSettings
    pii: PiiSettings

    def merged(self, override: PolicyOverride | None) -> GuardPolicy:
        if override is None:
            return self
        return GuardPolicy(
            max_input_chars=override.max_input_chars or self.max_input_chars,
            injection=override.injection or self.injection,
            pii=override.pii or self.pii,
        )


def key_override(metadata: dict[str, Any]) -> PolicyOverride | None:
    """A key's own guard policy, from its metadata's ``guardrails`` entry."""
    raw = metadata.get("guardrails")
    return PolicyOverride.model_validate(raw) if isinstance(raw, dict) else None
