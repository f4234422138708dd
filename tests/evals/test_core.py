"""Pure parts of evaluation: suite files, judge replies, statistics and comparisons."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lockgate.evals.answer import Answer
from lockgate.evals.compare import compare_runs
from lockgate.evals.estimate import CostEstimate
from lockgate.evals.judge import JudgeError, combine_orders, parse_rubric_reply, parse_side
from lockgate.evals.runner import RunResult
from lockgate.evals.stats import cohen_kappa, mcnemar_exact, paired_bootstrap, wilson
from lockgate.evals.suite import (
    GateSettings,
    SuiteError,
    load_suite,
    parse_prompt_ref,
    suite_from_mapping,
)
from lockgate.evals.verdict import CaseResult, Verdict

PROMPT = [{"role": "user", "content": "{{ q }}"}]


def test_suite_merges_defaults_and_reads_every_dataset_format(tmp_path: Path) -> None:
    """Cases come inline and from JSONL, CSV and YAML; defaults merge into each."""
    (tmp_path / "a.jsonl").write_text(
        '{"q": "one"}\n{"vars": {"q": "two"}, "assert": [{"type": "is_json"}]}\n'
    )
    (tmp_path / "b.csv").write_text("q,__expected\nthree,contains:thr\nfour,four\n")
    (tmp_path / "c.yaml").write_text("- {q: five, __id: fifth}\n")
    suite_text = {
        "targets": ["m"],
        "defaults": {
            "prompt": PROMPT,
            "vars": {"x": 1},
            "params": {"temperature": 0},
            "assert": [{"type": "max_tokens", "value": 50}],
        },
        "cases": [{"id": "inline", "vars": {"q": "zero"}}],
    }
    for name in ("a.jsonl", "b.csv", "c.yaml"):
        suite = suite_from_mapping({**suite_text, "dataset": name}, tmp_path)
        assert suite.cases[0].id == "inline" and suite.cases[0].params == {"temperature": 0}
    a = suite_from_mapping({**suite_text, "dataset": "a.jsonl"}, tmp_path)
    assert [c.vars["q"] for c in a.cases] == ["zero", "one", "two"]
    assert [a.type for a in a.cases[2].asserts] == ["max_tokens", "is_json"]
    b = suite_from_mapping({**suite_text, "dataset": "b.csv"}, tmp_path)
    assert [(x.type, x.value) for x in b.cases[1].asserts[1:]] == [("contains", "thr")]
    assert [(x.type, x.value) for x in b.cases[2].asserts[1:]] == [("equals", "four")]
    c = suite_from_mapping({**suite_text, "dataset": "c.yaml"}, tmp_path)
    assert c.cases[1].id == "fifth" and c.cases[1].vars == {"x": 1, "q": "five"}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"targets": ["m"]}, "no cases"),
        ({"targets": [], "cases": [{"prompt": PROMPT}]}, "targets"),
        (
            {"targets": ["m"], "cases": [{"prompt": PROMPT, "assert": [{"type": "nope"}]}]},
            "assert.0.type",
        ),
        (
            {"targets": ["m"], "cases": [{"prompt": PROMPT, "assert": [{"type": "rubric"}]}]},
            "judge alias",
        ),
        (
            {
                "targets": ["m"],
                "cases": [{"id": "a", "prompt": PROMPT}, {"id": "a", "prompt": PROMPT}],
            },
            "duplicate",
        ),
        ({"targets": ["m"], "cases": [{}]}, "has no prompt"),
        ({"targets": [{"prompt": PROMPT}], "cases": [{}]}, "names no model"),
        ({"targets": ["m", "m"], "cases": [{"prompt": PROMPT}]}, "unique"),
        ({"targets": ["m"], "cases": [{"prompt": "bad-ref"}]}, "name@label"),
        ({"targets": ["m"], "dataset": "missing.jsonl"}, "cannot read dataset"),
    ],
)
def test_bad_suites_are_refused_clearly(
    data: dict[str, object], message: str, tmp_path: Path
) -> None:
    """Every suite mistake is a SuiteError that names it."""
    with pytest.raises(SuiteError, match=message):
        suite_from_mapping(data, tmp_path)


def test_targets_and_prompt_refs(tmp_path: Path) -> None:
    """Targets are aliases, prompt refs on a default model, or explicit model+prompt."""
    suite = suite_from_mapping(
        {
            "targets": [
                "m",
                "support@prod",
                {"model": "big", "prompt": "support@v3"},
                {"model": "m", "label": "t", "prompt": PROMPT},
            ],
            "defaults": {"model": "m"},
            "cases": [{"prompt": PROMPT}],
        }
    )
    assert [(t.name, t.model) for t in suite.targets] == [
        ("m", "m"),
        ("support@prod", "m"),
        ("big:support@v3", "big"),
        ("t", "m"),
    ]
    assert parse_prompt_ref("support@v3").version == 3
    assert parse_prompt_ref("support@prod").label == "prod"
    path = tmp_path / "s.yaml"
    path.write_text("targets: [m]\ncases: [{prompt: [{role: user, content: hi}]}]\n")
    assert load_suite(path).cases[0].id == "case-1"
    path.write_text("- not a mapping\n")
    with pytest.raises(SuiteError, match="mapping"):
        load_suite(path)


def test_judge_replies_are_parsed_or_refused() -> None:
    """Scores on 0-1 or 1-10, per-criterion mappings, winners in JSON or bare letters."""
    assert parse_rubric_reply('Sure: {"score": 0.8, "reason": "ok"}') == (0.8, "ok")
    assert parse_rubric_reply('{"overall_score": 7, "reasoning": "fine"}') == (0.7, "fine")
    assert parse_rubric_reply('{"criteria": {"a": {"score": 1}, "b": 0.5}}')[0] == 0.75
    for bad in ("no json", '{"score": 42}', '{"score": true}', '{"reason": "x"}'):
        with pytest.raises(JudgeError):
            parse_rubric_reply(bad)
    assert parse_side('{"winner": "Output (b)", "reason": "r"}') == ("B", "r")
    assert parse_side('{"winner": "tie"}')[0] == "tie"
    assert parse_side("Output (a)")[0] == "A"
    for bad in ("I cannot decide between them.", '{"winner": "C"}'):
        with pytest.raises(JudgeError):
            parse_side(bad)
    assert combine_orders("A", "B") == "x" and combine_orders("B", "A") == "y"
    assert combine_orders("A", "A") == "tie" and combine_orders("tie", "B") == "tie"


def test_statistics_match_known_values() -> None:
    """Wilson, exact McNemar, kappa and the paired bootstrap on textbook cases."""
    w = wilson(8, 10)
    assert (
        w.estimate == 0.8
        and w.low == pytest.approx(0.4902, abs=1e-3)
        and w.high == pytest.approx(0.9433, abs=1e-3)
    )
    assert mcnemar_exact(0, 0).p_value == 1.0
    assert mcnemar_exact(10, 0).p_value == pytest.approx(2 * 0.5**10)
    assert mcnemar_exact(6, 4).p_value == pytest.approx(0.7539, abs=1e-3)
    assert cohen_kappa([1, 2, 1, 2], [1, 2, 1, 2]) == 1.0
    assert cohen_kappa([1, 1, 2, 2], [1, 2, 1, 2]) == 0.0
    assert cohen_kappa([1, 2, 1, 2], [2, 1, 2, 1]) == -1.0
    iv = paired_bootstrap([0.1] * 30, np.random.default_rng(0))
    assert iv.estimate == pytest.approx(0.1) and iv.low == pytest.approx(0.1) and iv.n == 30
    noisy = paired_bootstrap(
        list(np.random.default_rng(1).normal(0, 1, 200)), np.random.default_rng(0)
    )
    assert noisy.low < 0 < noisy.high


def _result(
    case: str, target: str, status: str, score: float | None = None, kind: str = "rubric"
) -> CaseResult:
    verdicts = [Verdict(kind, status, "r", score=score)]  # type: ignore[arg-type]
    return CaseResult(
        case, target, 0, status, answer=Answer(text=f"{target} {case}"), verdicts=verdicts
    )  # type: ignore[arg-type]


def _run(rows: list[CaseResult]) -> RunResult:
    return RunResult(targets=["base", "cand"], results=rows, estimate=CostEstimate())


def test_compare_flags_a_significant_drop_beyond_the_margin() -> None:
    """12 lost passes: McNemar p < 0.001 and the pass-rate drop beyond 5%: regression, exit 1."""
    rows = [_result(f"c{i}", "base", "pass", 1.0) for i in range(20)]
    rows += [
        _result(f"c{i}", "cand", "fail" if i < 12 else "pass", 0.0 if i < 12 else 1.0)
        for i in range(20)
    ]
    c = compare_runs(
        _run(rows), "base", "cand", GateSettings(pass_rate_margin=0.05), np.random.default_rng(0)
    )
    assert c.mcnemar.lost == 12 and c.mcnemar.p_value < 0.001
    assert c.pass_rate_delta.estimate == pytest.approx(-0.6) and c.pass_rate_delta.high < 0
    assert c.score_delta is not None and c.score_delta.estimate == pytest.approx(-0.6)
    assert c.regression and c.exit_code == 1 and len(c.reasons) == 2
    assert json.loads(json.dumps(c.to_json()))["exit_code"] == 1


def test_compare_tolerates_noise_and_margin() -> None:
    """Two lost of twenty is not significant; a real but small drop inside the margin passes."""
    rows = [_result(f"c{i}", "base", "pass") for i in range(20)]
    rows += [_result(f"c{i}", "cand", "fail" if i < 2 else "pass") for i in range(20)]
    c = compare_runs(_run(rows), "base", "cand", GateSettings(), np.random.default_rng(0))
    assert not c.regression and c.exit_code == 0
    big = [_result(f"c{i}", "base", "pass") for i in range(100)]
    big += [_result(f"c{i}", "cand", "fail" if i < 10 else "pass") for i in range(100)]
    lenient = compare_runs(
        _run(big), "base", "cand", GateSettings(pass_rate_margin=0.15), np.random.default_rng(0)
    )
    strict = compare_runs(
        _run(big), "base", "cand", GateSettings(pass_rate_margin=0.05), np.random.default_rng(0)
    )
    assert not lenient.regression and strict.regression


def test_compare_errors_and_pairwise_win_rate() -> None:
    """An errored pair makes the exit code 2; a judge preferring the baseline is a regression."""
    rows = [_result("c0", "base", "pass"), CaseResult("c0", "cand", 0, "error", error="down")]
    assert (
        compare_runs(_run(rows), "base", "cand", GateSettings(), np.random.default_rng(0)).exit_code
        == 2
    )
    rows = [_result(f"c{i}", "base", "pass", None, "pairwise") for i in range(10)]
    rows += [_result(f"c{i}", "cand", "fail", 0.0, "pairwise") for i in range(10)]
    c = compare_runs(_run(rows), "base", "cand", GateSettings(), np.random.default_rng(0))
    assert c.win_rate is not None and c.win_rate.estimate == 0.0
    assert any("win rate" in r for r in c.reasons)
