"""The suite file (promptfoo-like YAML), validated once, and its datasets.

::

    description: support bot answers
    targets: [support-small, {model: support-large, prompt: support@prod, label: large}]
    defaults:
      judge: judge
      params: {temperature: 0}
      assert: [{type: max_latency_ms, value: 5000}]
    cases:
      - vars: {city: Paris}
        prompt: [{role: user, content: "What is the capital of France?"}]
        assert: [{type: contains, value: "{{ city }}"}]
    dataset: more-cases.jsonl        # JSONL, CSV or YAML rows; a row is its vars
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from lockgate.errors import BadRequestError

__all__ = [
    "ASSERTION_TYPES",
    "AssertionSpec",
    "AssertionType",
    "Case",
    "CaseSpec",
    "Defaults",
    "GateSettings",
    "LoadedSuite",
    "PromptRef",
    "SuiteError",
    "SuiteSpec",
    "Target",
    "TargetSpec",
    "load_suite",
    "parse_prompt_ref",
    "suite_from_mapping",
]

AssertionType = Literal[
    "equals",
    "contains",
    "not_contains",
    "regex",
    "is_json",
    "json_schema",
    "tool_call",
    "max_latency_ms",
    "max_cost_usd",
    "max_tokens",
    "similar",
    "rubric",
    "pairwise",
]
ASSERTION_TYPES: tuple[str, ...] = AssertionType.__args__  # type: ignore[attr-defined]

Messages = list[dict[str, Any]]


class SuiteError(BadRequestError):
    """The suite file or its dataset is missing or invalid."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class AssertionSpec(_Model):
    type: AssertionType
    #: what to compare with: text, pattern, schema, limit, reference, rubric or opponent
    value: Any = None
    #: pass mark of scored assertions (similar, rubric, pairwise)
    threshold: float | None = Field(default=None, ge=0, le=1)
    #: judge alias for rubric/pairwise (else defaults.judge)
    judge: str | None = None


class PromptRef(_Model):
    """A registry prompt: ``name@label`` or ``name@v3`` (a version number)."""

    name: str
    label: str | None = None
    version: int | None = None

    def __str__(self) -> str:
        return f"{self.name}@{self.label if self.label is not None else f'v{self.version}'}"


def parse_prompt_ref(text: str) -> PromptRef:
    name, sep, tag = text.partition("@")
    if not sep or not name or not tag:
        raise SuiteError(f"prompt reference {text!r} must be written name@label or name@vN")
    if tag[:1] == "v" and tag[1:].isdigit():
        return PromptRef(name=name, version=int(tag[1:]))
    return PromptRef(name=name, label=tag)


PromptField = Messages | str | None


def _check_prompt(value: PromptField) -> PromptField:
    if isinstance(value, str):
        parse_prompt_ref(value)
    elif isinstance(value, list):
        for m in value:
            if not isinstance(m, dict) or "role" not in m:
                raise ValueError("each prompt message needs a 'role' (and usually 'content')")
    return value


class TargetSpec(_Model):
    """A model alias, a registry prompt on a model, or an inline template on a model."""

    model: str | None = None
    prompt: PromptField = None
    label: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)

    _prompt = field_validator("prompt")(_check_prompt)


class GateSettings(_Model):
    """When ``eval compare`` calls the candidate a regression (exit code 1)."""

    #: largest tolerated drop in pass rate (0.05 = five points)
    pass_rate_margin: float = Field(default=0.0, ge=0, le=1)
    #: largest tolerated drop in mean judge/similarity score
    score_margin: float = Field(default=0.0, ge=0, le=1)
    #: significance level of the paired tests
    alpha: float = Field(default=0.05, gt=0, lt=1)


class Defaults(_Model):
    model: str | None = None
    prompt: PromptField = None
    judge: str | None = None
    vars: dict[str, Any] = Field(default_factory=dict)
    params: dict[str, Any] = Field(default_factory=dict)
    assert_: list[AssertionSpec] = Field(default_factory=list, alias="assert")

    _prompt = field_validator("prompt")(_check_prompt)


class CaseSpec(_Model):
    id: str | None = None
    description: str | None = None
    vars: dict[str, Any] = Field(default_factory=dict)
    prompt: PromptField = None
    assert_: list[AssertionSpec] = Field(default_factory=list, alias="assert")
    params: dict[str, Any] = Field(default_factory=dict)

    _prompt = field_validator("prompt")(_check_prompt)


class SuiteSpec(_Model):
    description: str | None = None
    targets: list[str | TargetSpec] = Field(min_length=1)
    defaults: Defaults = Field(default_factory=Defaults)
    cases: list[CaseSpec] = Field(default_factory=list)
    dataset: str | None = None
    #: requests in flight at once
    concurrency: int = Field(default=8, ge=1, le=256)
    #: stop starting new calls once this much has been spent (USD)
    cost_cap_usd: float | None = Field(default=None, gt=0)
    gate: GateSettings = Field(default_factory=GateSettings)


class Target(_Model):
    """A resolved target: its display name, model alias and prompt (None: the case's)."""

    name: str
    #: None: the registry prompt's own model (from the render endpoint)
    model: str | None
    prompt: PromptField = None
    params: dict[str, Any] = Field(default_factory=dict)


class Case(_Model):
    """A resolved case: defaults merged in, a stable id."""

    id: str
    description: str | None = None
    vars: dict[str, Any]
    prompt: PromptField
    asserts: list[AssertionSpec]
    params: dict[str, Any]


class LoadedSuite(_Model):
    description: str | None
    targets: list[Target]
    cases: list[Case]
    judge: str | None
    concurrency: int
    cost_cap_usd: float | None
    gate: GateSettings

    def target(self, name: str) -> Target:
        for t in self.targets:
            if t.name == name:
                return t
        known = ", ".join(t.name for t in self.targets)
        raise SuiteError(f"no target {name!r} in the suite (targets: {known})")


def _resolve_target(raw: str | TargetSpec, defaults: Defaults) -> Target:
    if isinstance(raw, str):
        raw = TargetSpec(prompt=raw) if "@" in raw else TargetSpec(model=raw)
    model = raw.model or defaults.model
    if model is None and not isinstance(raw.prompt, str):
        raise SuiteError(
            f"target {raw.label or raw.prompt!r} names no model; set its 'model' or defaults.model"
        )
    if raw.label:
        name = raw.label
    elif isinstance(raw.prompt, str):
        name = raw.prompt if raw.model is None else f"{raw.model}:{raw.prompt}"
    else:
        name = str(model)
    return Target(name=name, model=model, prompt=raw.prompt, params=raw.params)


_EXPECTED_PREFIXES = ("contains", "not_contains", "regex", "equals", "is_json", "similar")


def _expected(value: str) -> AssertionSpec:
    """promptfoo's ``__expected`` column: ``contains:text``, ``regex:...``, else equals."""
    kind, sep, rest = value.partition(":")
    if sep and kind in _EXPECTED_PREFIXES:
        return AssertionSpec(type=kind, value=rest or None)  # type: ignore[arg-type]
    return AssertionSpec(type="equals", value=value)


def _row_case(row: Any, where: str) -> CaseSpec:
    if not isinstance(row, dict):
        raise SuiteError(f"{where}: a dataset row must be a mapping")
    if any(k in row for k in ("vars", "assert", "prompt")):
        case: CaseSpec = _validate(CaseSpec, row, where)
        return case
    vars_ = {k: v for k, v in row.items() if not str(k).startswith("__")}
    asserts = [_expected(str(row["__expected"]))] if row.get("__expected") else []
    case_id = row.get("__id")
    return CaseSpec.model_validate(
        {"id": str(case_id) if case_id else None, "vars": vars_, "assert": asserts}
    )


def _read_dataset(path: Path) -> list[CaseSpec]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SuiteError(f"cannot read dataset {path}: {exc.strerror}") from None
    suffix = path.suffix.lower()
    rows: list[Any]
    if suffix == ".jsonl":
        rows = []
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise SuiteError(f"{path}:{n}: not JSON: {exc.msg}") from None
    elif suffix == ".csv":
        rows = list(csv.DictReader(text.splitlines()))
    elif suffix in (".yaml", ".yml"):
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise SuiteError(f"dataset {path} is not valid YAML: {exc}") from None
        rows = data if isinstance(data, list) else []
        if not isinstance(data, list):
            raise SuiteError(f"dataset {path} must hold a list of rows")
    else:
        raise SuiteError(f"dataset {path}: expected .jsonl, .csv, .yaml or .yml")
    return [_row_case(r, f"{path} row {i + 1}") for i, r in enumerate(rows)]


def _validate(model: type[Any], data: Any, where: str) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "(root)"
            lines.append(f"{loc}: {err['msg']}")
        raise SuiteError(f"{where} is invalid:\n  " + "\n  ".join(lines)) from None


def suite_from_mapping(data: Any, base_dir: Path | None = None) -> LoadedSuite:
    """Validate a parsed suite, read its dataset and merge defaults into every case."""
    spec: SuiteSpec = _validate(SuiteSpec, data, "suite")
    specs = list(spec.cases)
    if spec.dataset is not None:
        path = Path(spec.dataset)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        specs.extend(_read_dataset(path))
    if not specs:
        raise SuiteError("the suite has no cases (give 'cases' or 'dataset')")
    d = spec.defaults
    targets = [_resolve_target(t, d) for t in spec.targets]
    names = [t.name for t in targets]
    if len(set(names)) != len(names):
        raise SuiteError(f"target names must be unique (give each a 'label'): {names}")
    cases: list[Case] = []
    seen: set[str] = set()
    for i, c in enumerate(specs):
        case_id = c.id or f"case-{i + 1}"
        if case_id in seen:
            raise SuiteError(f"duplicate case id {case_id!r}")
        seen.add(case_id)
        prompt = c.prompt if c.prompt is not None else d.prompt
        if prompt is None and any(t.prompt is None for t in targets):
            raise SuiteError(f"case {case_id!r} has no prompt (and neither has defaults)")
        cases.append(
            Case(
                id=case_id,
                description=c.description,
                vars={**d.vars, **c.vars},
                prompt=prompt,
                asserts=[*d.assert_, *c.assert_],
                params={**d.params, **c.params},
            )
        )
    needs_judge = any(
        a.type in ("rubric", "pairwise") and a.judge is None for c in cases for a in c.asserts
    )
    if needs_judge and d.judge is None:
        raise SuiteError("rubric and pairwise assertions need a judge alias (defaults.judge)")
    return LoadedSuite(
        description=spec.description,
        targets=targets,
        cases=cases,
        judge=d.judge,
        concurrency=spec.concurrency,
        cost_cap_usd=spec.cost_cap_usd,
        gate=spec.gate,
    )


def load_suite(path: str | Path) -> LoadedSuite:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise SuiteError(f"cannot read suite {p}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SuiteError(f"suite {p} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise SuiteError(f"suite {p} must hold a mapping at the top level")
    return suite_from_mapping(data, p.parent)
