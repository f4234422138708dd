# ruff: noqa: E501  (tables of example strings)
"""gitleaks' rules, checked against gitleaks 8.30.1 itself on true and false examples.

The data file is built by bench/gitleaks_examples.py: per rule, secrets drawn from the
rule's own pattern and written in the assignment forms of gitleaks' rule tests,
documentation placeholders, and examples copied from gitleaks' rule files; each row
labelled by what the gitleaks binary reports for it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lockgate.guards.pii import SECRET_TYPES, PiiScanner
from lockgate.guards.pii.secret_rules import SecretRuleDetector

DATA = Path(__file__).parent / "data" / "gitleaks_examples.jsonl"


@pytest.fixture(scope="module")
def rows() -> list[dict[str, object]]:
    return [json.loads(line) for line in DATA.read_text().splitlines() if line]


@pytest.fixture(scope="module")
def detector() -> SecretRuleDetector:
    return SecretRuleDetector()


def test_every_rule_has_a_true_example(rows: list[dict[str, object]]) -> None:
    """The file covers all of gitleaks' content rules (221 of 222; one is path-only)."""
    rules = {r["rule"] for r in rows if r["label"] == 1}
    assert len(rules) >= 215


def _script() -> Any:
    import importlib.util

    root = Path(__file__).resolve().parents[2]
    spec = importlib.util.spec_from_file_location(
        "gitleaks_rules", root / "scripts" / "gitleaks_rules.py"
    )
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return script


@pytest.fixture(scope="module")
def as_8_30_1() -> SecretRuleDetector:
    """gitleaks 8.30.1's patterns translated as they are (the shipped rules also take
    the secret boundaries of gitleaks' current rule generator)."""
    import tomllib

    script = _script()
    config = tomllib.loads(script.SOURCE.read_text())
    return SecretRuleDetector(script.convert(config, "8.30.1", current=False))


def test_same_verdict_as_gitleaks_on_every_row(
    rows: list[dict[str, object]], as_8_30_1: SecretRuleDetector
) -> None:
    """The translation of 8.30.1's rules says what the 8.30.1 binary says, row by row."""
    wrong = [r["text"] for r in rows if bool(as_8_30_1.hits(str(r["text"]))) != bool(r["label"])]
    assert wrong == []


def test_same_rules_as_gitleaks(
    rows: list[dict[str, object]], as_8_30_1: SecretRuleDetector
) -> None:
    """The rule that fires is the one gitleaks names (generic hits deduplicated as it does)."""
    differ = [
        r
        for r in rows
        if {h.rule for h in as_8_30_1.hits(str(r["text"]))} != set(r["gitleaks_rules"])
    ]
    assert len(differ) <= len(rows) // 100


def test_shipped_rules_find_what_gitleaks_finds_and_its_newer_forms(
    rows: list[dict[str, object]], detector: SecretRuleDetector
) -> None:
    """Every row gitleaks 8.30.1 reports, and the rule files' true examples in the forms
    only gitleaks' current generator takes (XML, CSV, YAML block scalars, ``+=``,
    escaped JSON), are found by the shipped rules."""
    pos = [r for r in rows if r["label"] == 1]
    newer = [
        r for r in rows if r["label"] == 0 and r.get("expected") == 1 and not r.get("new_rule")
    ]
    assert len(newer) >= 250
    assert [r["text"] for r in pos if not detector.hits(str(r["text"]))] == []
    assert [r["text"] for r in newer if not detector.hits(str(r["text"]))] == []


def test_rules_added_after_8_30_1_find_their_rule_files_examples(
    rows: list[dict[str, object]], detector: SecretRuleDetector
) -> None:
    """third_party/gitleaks/rules-after-8.30.1.toml: each rule finds its own true
    examples (Groq, LangSmith, Adyen, Braintree, Cast AI, Claude Code, ...)."""
    import tomllib

    added = tomllib.loads(_script().NEWER.read_text())["rules"]
    ids = {r["id"] for r in added}
    own = [r for r in rows if r.get("new_rule") and r["rule"] in ids]
    assert len({r["rule"] for r in own}) >= 12
    missed = [
        r["text"] for r in own if r["rule"] not in {h.rule for h in detector.hits(str(r["text"]))}
    ]
    assert missed == []


def test_a_secret_followed_by_a_comma_is_found(detector: SecretRuleDetector) -> None:
    """gitleaks' current generator ends a secret at a comma, ``<`` or ``)`` too."""
    for text in (
        "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, then the rest",
        "<token>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</token>",
        "(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)",
    ):
        assert {h.rule for h in detector.hits(text)} == {"notion-api-token"}, text


def test_scanner_recall_and_false_positives(rows: list[dict[str, object]]) -> None:
    """The whole scanner (gitleaks' rules plus lockgate's own credential detectors).

    The placeholders include values such as ``000...`` and ``...EXAMPLE`` written in
    the forms only gitleaks' current generator takes (``bitbucket_token: |``); gitleaks
    itself reports the same values in its 8.30.1 forms (rules without an entropy
    floor), so some of them are found: about 2%."""
    scanner = PiiScanner(sorted(SECRET_TYPES))
    pos = [r for r in rows if r["label"] == 1]
    # gitleaks' "must not match" kind: copied false examples and placeholders (not the
    # rule files' true examples that gitleaks 8.30.1 itself misses)
    neg = [
        r
        for r in rows
        if r["label"] == 0
        and r["origin"] in ("gitleaks-go", "placeholder")
        and r.get("expected", 0) == 0
    ]
    caught = sum(1 for r in pos if scanner.find(str(r["text"])))
    false = [r["text"] for r in neg if scanner.find(str(r["text"]))]
    assert caught / len(pos) >= 0.99
    assert len(false) / len(neg) <= 0.03, false


def test_gitleaks_own_examples_through_the_whole_scanner(rows: list[dict[str, object]]) -> None:
    """The true and false examples of gitleaks' rule files (128 of them), through
    everything that redacts secrets - lockgate's own key detectors included, which must
    not flag what gitleaks' generic rule lets pass (``public_key = ...``,
    ``credentialsId: ...``, ``key_length = ...``). Positives are what the gitleaks
    binary reports; negatives are the rule files' false examples it does not report."""
    scanner = PiiScanner(sorted(SECRET_TYPES))
    own = [r for r in rows if r["origin"] == "gitleaks-go"]
    pos = [r for r in own if r["label"] == 1]
    neg = [r for r in own if r["label"] == 0 and r.get("expected", 0) == 0]
    assert len(pos) >= 2500 and len(neg) >= 250
    assert len({r.get("go_file") for r in own}) >= 110
    missed = [r["text"] for r in pos if not scanner.find(str(r["text"]))]
    false = [r["text"] for r in neg if scanner.find(str(r["text"]))]
    assert len(missed) / len(pos) <= 0.05, missed
    assert len(false) / len(neg) <= 0.05, false


@pytest.mark.parametrize(
    "text",
    [
        "credentialsId: 'ff083f76-7804-4ef1-80e4-fe975bb9141b'",
        'public_key = "9Cnzj4p4WGeKLs1Pt8QuKUpRKfFLfRYC9AIKjbJTWit"',
        'LLM_SECRET_NAME = "NEXUS-GPT4-API-KEY"',
        "csrf-token=Mj2qykJO5rELyHgezQ69nzUX0i3OH67V7+V4eUrLfpuyOuxmiW9rhROG/Whikle15sy==",
        "- (id)hf_requiredCharacteristicTypesForDisplayMetadata;",
    ],
)
def test_lockgate_key_detectors_follow_gitleaks_generic_allowlist(text: str) -> None:
    assert PiiScanner(sorted(SECRET_TYPES)).find(text) == []


def test_lockgate_key_detectors_still_find_assigned_secrets() -> None:
    found = PiiScanner(sorted(SECRET_TYPES)).find(
        'client_secret = "q7pL2mN9vR4tB8wK3sD6fH1jG5zC0a"'
    )
    assert [f.value for f in found] == ["q7pL2mN9vR4tB8wK3sD6fH1jG5zC0a"]


@pytest.mark.parametrize(
    "text",
    [
        "xoxb-xxxxxxxxx-xxxxxxxxxx-xxxxxxxxxxxx",
        "aws_access_key_id = AKIAIOSFODNN7EXAMPLE",
        "api_key: ${API_KEY}",
        "password = 'changeme'",
    ],
)
def test_placeholders_are_not_secrets(detector: SecretRuleDetector, text: str) -> None:
    assert detector.hits(text) == []


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("hook: https://hooks.slack.com/services/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", "slack-webhook-url"),
        ('notion_token = "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"', "notion-api-token"),
        ("hf_org token: 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", "huggingface-organization-api-token"),
        ("SOURCEGRAPH=sgp_fd1b4edb60bf82b8_0552cdbb2d1d1b71d24f4b0ebd0dba5b8b3ad9d4", "sourcegraph-access-token"),
    ],
)  # fmt: skip
def test_rule_families_that_were_missed(detector: SecretRuleDetector, text: str, rule: str) -> None:
    """Families the first detector never caught (Slack webhooks, Notion, HF org, Sourcegraph)."""
    assert rule in {h.rule for h in detector.hits(text)}


def test_shipped_rules_are_what_the_script_makes_of_gitleaks_toml() -> None:
    """secret_rules.json is scripts/gitleaks_rules.py's translation of the vendored
    gitleaks.toml, unedited: regenerate it after updating the TOML."""
    import tomllib

    script = _script()
    config = tomllib.loads(script.SOURCE.read_text())
    assert script.convert(config, "8.30.1") == json.loads(script.TARGET.read_text())
