"""The README's example suite and the docs' suite shape stay valid."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from lockgate.evals.suite import ASSERTION_TYPES, suite_from_mapping

ROOT = Path(__file__).resolve().parents[2]


def test_readme_suite_is_valid(tmp_path: Path) -> None:
    """The README's `yaml suite` block loads as a suite (its dataset supplied here)."""
    [block] = re.findall(r"```yaml suite\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    (tmp_path / "more-cases.jsonl").write_text('{"question": "Where is my parcel?"}\n')
    suite = suite_from_mapping(yaml.safe_load(block), tmp_path)
    assert [t.name for t in suite.targets] == ["current", "candidate"]
    assert len(suite.cases) == 3 and suite.judge == "gpt-4o"


def test_docs_cover_every_assertion_type() -> None:
    """docs/evals.md has a row for each assertion type, and the first suite there is valid."""
    text = (ROOT / "docs" / "evals.md").read_text()
    for kind in ASSERTION_TYPES:
        assert f"| `{kind}` |" in text
    block = re.findall(r"```yaml\n(.*?)```", text, re.S)[0]
    data = yaml.safe_load(block)
    data.pop("dataset")
    suite = suite_from_mapping(data)
    assert len(suite.targets) == 4
