"""The suite runner end to end through the in-process gateway, the mock and fake judges."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lockgate.evals.client import GatewayClient
from lockgate.evals.runner import CostCapError, RunOptions, RunResult, SuiteRunner
from lockgate.evals.session import settings_prices
from lockgate.evals.similarity import local_embedder
from lockgate.evals.store import ResultCache
from lockgate.evals.suite import suite_from_mapping
from lockgate.evals.summary import flaky_cases, run_exit_code, summarize
from lockgate.settings import Settings

from .conftest import eval_settings


def _by_case(run: RunResult, target: str | None = None) -> dict[str, Any]:
    return {r.case_id: r for r in run.results if target is None or r.target == target}


async def _run(client: GatewayClient, data: dict[str, Any], **kw: Any) -> RunResult:
    cache = kw.pop("cache", None)
    runner = SuiteRunner(
        suite_from_mapping(data),
        client,
        options=RunOptions(**kw),
        cache=cache,
        embedder=local_embedder,
    )
    return await runner.run()


def _prompt(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


async def test_deterministic_assertions_pass_and_fail(client: GatewayClient) -> None:
    """Each deterministic assertion passes on a right answer and fails on a wrong one."""
    suite = {
        "targets": ["echo"],
        "cases": [
            {
                "id": "equals",
                "prompt": _prompt("hi there"),
                "assert": [{"type": "equals", "value": "echo: hi there"}],
            },
            {
                "id": "equals-no",
                "prompt": _prompt("hi"),
                "assert": [{"type": "equals", "value": "hello"}],
            },
            {
                "id": "contains",
                "vars": {"c": "Paris"},
                "prompt": _prompt("{{ c }} is nice"),
                "assert": [
                    {"type": "contains", "value": ["{{ c }}", "nice"]},
                    {"type": "not_contains", "value": "Rome"},
                ],
            },
            {
                "id": "not-contains-no",
                "prompt": _prompt("Rome"),
                "assert": [{"type": "not_contains", "value": "Rome"}],
            },
            {
                "id": "regex",
                "prompt": _prompt("order 12345"),
                "assert": [{"type": "regex", "value": r"\d{5}"}],
            },
            {"id": "json", "prompt": _prompt('{"a": 1}'), "assert": [{"type": "is_json"}]},
            {
                "id": "schema",
                "prompt": _prompt('{"a": 1}'),
                "assert": [{"type": "json_schema", "value": {"type": "object", "required": ["a"]}}],
            },
            {
                "id": "schema-no",
                "prompt": _prompt('{"b": 1}'),
                "assert": [{"type": "json_schema", "value": {"type": "object", "required": ["a"]}}],
            },
            {
                "id": "limits",
                "prompt": _prompt("one two three"),
                "assert": [
                    {"type": "max_latency_ms", "value": 60000},
                    {"type": "max_cost_usd", "value": 1},
                    {"type": "max_tokens", "value": 10},
                ],
            },
            {
                "id": "tokens-no",
                "prompt": _prompt("a b c d e f g h i j k l"),
                "assert": [{"type": "max_tokens", "value": 3}],
            },
        ],
    }
    run = await _run(client, suite)
    got = {cid: r.status for cid, r in _by_case(run).items()}
    assert got == {
        "equals": "pass",
        "equals-no": "fail",
        "contains": "pass",
        "not-contains-no": "fail",
        "regex": "pass",
        "json": "fail",
        "schema": "fail",
        "schema-no": "fail",
        "limits": "pass",
        "tokens-no": "fail",
    }
    assert "expected 'hello'" in _by_case(run)["equals-no"].verdicts[0].reason


async def test_json_assertions_on_a_json_answer(client: GatewayClient) -> None:
    """is_json and json_schema read the answer itself (the mock's answer here is JSON-free)."""
    from lockgate.evals.answer import Answer
    from lockgate.evals.checks import check

    answer = Answer(text='```json\n{"a": 1, "b": "x"}\n```')
    assert check("is_json", answer, None).status == "pass"
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    assert check("json_schema", answer, schema).status == "pass"
    bad = check("json_schema", Answer(text='{"a": "no"}'), schema)
    assert bad.status == "fail" and "a:" in bad.reason
    assert check("json_schema", answer, {"type": 12}).status == "error"


async def test_tool_call_assertion(client: GatewayClient) -> None:
    """tool_call passes when the named tool is called with arguments matching the schema."""
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                    "required": ["city"],
                },
            },
        }
    ]
    ok = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    bad = {"type": "object", "properties": {"days": {"type": "string"}}, "required": ["days"]}
    suite = {
        "targets": ["echo"],
        "defaults": {"params": {"tools": tools}},
        "cases": [
            {
                "id": "called",
                "prompt": _prompt("CALL_TOOL weather"),
                "assert": [{"type": "tool_call", "value": {"name": "get_weather", "schema": ok}}],
            },
            {
                "id": "wrong-args",
                "prompt": _prompt("CALL_TOOL weather"),
                "assert": [{"type": "tool_call", "value": {"name": "get_weather", "schema": bad}}],
            },
            {
                "id": "not-called",
                "prompt": _prompt("just chat"),
                "assert": [{"type": "tool_call", "value": "get_weather"}],
            },
        ],
    }
    run = await _run(client, suite)
    got = {cid: r.status for cid, r in _by_case(run).items()}
    assert got == {"called": "pass", "wrong-args": "fail", "not-called": "fail"}


async def test_similar_uses_the_local_embedder(client: GatewayClient) -> None:
    """similar passes for a paraphrase-level match and fails for an unrelated reference."""
    suite = {
        "targets": ["echo"],
        "cases": [
            {
                "id": "close",
                "prompt": _prompt("The cat sat on the mat."),
                "assert": [
                    {
                        "type": "similar",
                        "value": "echo: A cat was sitting on the mat.",
                        "threshold": 0.7,
                    }
                ],
            },
            {
                "id": "far",
                "prompt": _prompt("The cat sat on the mat."),
                "assert": [
                    {
                        "type": "similar",
                        "value": "Quarterly revenue grew by four percent.",
                        "threshold": 0.7,
                    }
                ],
            },
        ],
    }
    run = await _run(client, suite)
    cases = _by_case(run)
    assert cases["close"].status == "pass" and cases["far"].status == "fail"
    assert cases["close"].score is not None and cases["close"].score > cases["far"].score  # type: ignore[operator]


async def test_rubric_scores_with_reason_and_five_criteria(client: GatewayClient) -> None:
    """A rubric judge scores 0-1 with a reason; the default rubric sends the five criteria."""
    suite = {
        "targets": ["echo"],
        "defaults": {"judge": "judge-oracle"},
        "cases": [
            {
                "id": "good",
                "prompt": _prompt("a fine answer"),
                "assert": [{"type": "rubric", "value": "default"}],
            },
            {
                "id": "bad",
                "prompt": _prompt("a WRONG answer"),
                "assert": [{"type": "rubric", "value": "Is it right?", "threshold": 0.5}],
            },
        ],
    }
    run = await _run(client, suite)
    cases = _by_case(run)
    assert cases["good"].status == "pass" and cases["good"].verdicts[0].score == 1.0
    assert cases["bad"].status == "fail" and "oracle judge" in cases["bad"].verdicts[0].reason


@pytest.mark.parametrize("kind", ["broken", "down"])
async def test_judge_failure_is_error_never_fail(client: GatewayClient, kind: str) -> None:
    """A judge that answers nonsense or HTTP 500 makes the case ERROR (exit code 2)."""
    suite = {
        "targets": ["echo"],
        "defaults": {"judge": f"judge-{kind}"},
        "cases": [
            {
                "id": "c",
                "prompt": _prompt("x"),
                "assert": [{"type": "rubric"}, {"type": "contains", "value": "x"}],
            }
        ],
    }
    run = await _run(client, suite)
    r = run.results[0]
    assert r.status == "error"
    assert [v.status for v in r.verdicts] == ["error", "pass"]
    assert run_exit_code(run) == 2


async def test_upstream_failure_is_error(client: GatewayClient) -> None:
    """An upstream 500 is an ERROR with the gateway's message, not a FAIL."""
    suite = {
        "targets": ["dead"],
        "cases": [{"prompt": _prompt("x"), "assert": [{"type": "contains", "value": "x"}]}],
    }
    run = await _run(client, suite)
    assert run.results[0].status == "error"
    assert "HTTP 5" in (run.results[0].error or "")


async def test_pairwise_both_orders_and_disagreement_is_a_tie(client: GatewayClient) -> None:
    """The judge sees both orders; an always-first judge yields ties, an oracle a clear win."""
    base = {
        "targets": [
            {"model": "echo", "label": "good", "prompt": _prompt("the right answer")},
            {"model": "echo", "label": "bad", "prompt": _prompt("a WRONG answer")},
        ],
        "cases": [{"id": "c", "assert": [{"type": "pairwise", "value": "good"}]}],
    }
    oracle = await _run(client, {**base, "defaults": {"judge": "judge-oracle"}})
    cases = _by_case(oracle, "bad")
    assert cases["c"].status == "fail" and cases["c"].verdicts[0].score == 0.0
    assert _by_case(oracle, "good")["c"].verdicts[0].reason == "reference target of the comparison"
    first = await _run(client, {**base, "defaults": {"judge": "judge-always_first"}})
    v = _by_case(first, "bad")["c"].verdicts[0]
    assert v.score == 0.5 and v.status == "pass" and "orders A/A" in v.reason


async def test_cache_makes_a_rerun_free(client: GatewayClient, tmp_path: Path, judges: Any) -> None:
    """A second run answers from the content-hash cache: no new calls, no cost."""
    suite = {
        "targets": ["mock"],
        "defaults": {"judge": "judge-oracle"},
        "cases": [
            {"id": f"c{i}", "prompt": _prompt(f"q {i}"), "assert": [{"type": "rubric"}]}
            for i in range(3)
        ],
    }
    before = judges["oracle"].fake.calls
    first = await _run(client, suite, cache=ResultCache(tmp_path / "cache"))
    assert first.cost_usd > 0 and judges["oracle"].fake.calls == before + 3
    second = await _run(client, suite, cache=ResultCache(tmp_path / "cache"))
    assert second.cost_usd == 0 and second.cache_hits == 6
    assert judges["oracle"].fake.calls == before + 3
    assert [r.status for r in second.results] == [r.status for r in first.results]


async def test_cost_estimate_and_cap(client: GatewayClient, settings: Settings) -> None:
    """An estimate above the cap refuses to start; a cap reached mid-run turns the rest to ERROR."""
    suite = {"targets": ["mock"], "cases": [{"prompt": _prompt(f"{i} " * 400)} for i in range(5)]}
    prices = settings_prices(settings)
    runner = SuiteRunner(
        suite_from_mapping(suite), client, options=RunOptions(cost_cap_usd=1e-6), prices=prices
    )
    with pytest.raises(CostCapError):
        await runner.prepare()
    runner = SuiteRunner(suite_from_mapping({**suite, "concurrency": 1}), client, prices=prices)
    items, est = await runner.prepare()
    assert est.calls == 5 and est.usd > 0
    runner.cap = 1e-9  # less than any call: the first one spends it
    run = await runner.execute(items, est)
    assert run.stopped_by_cap
    statuses = sorted(r.status for r in run.results)
    assert statuses == ["error", "error", "error", "error", "pass"]
    assert "cost cap" in (next(r for r in run.results if r.status == "error").error or "")


async def test_repeat_reports_flaky_cases(client: GatewayClient) -> None:
    """--repeat N runs each case N times; a case that both passes and fails is flaky."""
    suite = {
        "targets": ["mock"],
        "defaults": {"judge": "judge-random"},
        "cases": [
            {
                "id": "coin",
                "prompt": _prompt("flip"),
                "assert": [{"type": "rubric", "threshold": 0.5}],
            },
            {
                "id": "steady",
                "prompt": _prompt("steady"),
                "assert": [{"type": "contains", "value": "steady"}],
            },
        ],
    }
    run = await _run(client, suite, repeat=12)
    assert len(run.results) == 24
    flaky = flaky_cases(run)
    assert [f.case_id for f in flaky] == ["coin"]
    assert flaky[0].passed + flaky[0].failed == 12
    [s] = summarize(run)
    assert s.runs == 24 and s.errors == 0


async def test_template_errors_are_errors(client: GatewayClient) -> None:
    """A missing variable is an ERROR naming the template, and the sandbox blocks internals."""
    suite = {
        "targets": ["mock"],
        "cases": [
            {"id": "missing", "prompt": _prompt("{{ nope }}")},
            {"id": "sandbox", "prompt": _prompt("{{ ''.__class__.__mro__ }}")},
        ],
    }
    run = await _run(client, suite)
    cases = _by_case(run)
    assert cases["missing"].status == "error" and "nope" in (cases["missing"].error or "")
    assert cases["sandbox"].status == "error"


def test_unknown_alias_in_online_config_is_rejected(tmp_path: Path, judges: Any) -> None:
    """evaluation.online.judge must name a configured alias."""
    from lockgate.settings import ConfigError

    with pytest.raises(ConfigError, match=r"evaluation\.online\.judge"):
        eval_settings(tmp_path, judges, evaluation={"online": {"enabled": True, "judge": "nobody"}})
