"""End to end: a suite through a live gateway fails on a planted regression and passes without.

The gateway runs on 127.0.0.1 (uvicorn) in front of the fake provider and fake judges; the
`lockgate eval` commands reach it by URL, and in-process from the same config.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.fakes import ThreadedFake, start_in_thread
from tests.live_server import LiveGateway, serve_in_thread
from typer.testing import CliRunner

from lockgate.cli import app

from .conftest import eval_settings

CITIES = [
    "Paris",
    "Rome",
    "Lima",
    "Oslo",
    "Cairo",
    "Quito",
    "Hanoi",
    "Accra",
    "Dakar",
    "Sofia",
    "Riga",
    "Bern",
    "Baku",
    "Doha",
    "Male",
    "Suva",
    "Apia",
    "Kyiv",
    "Minsk",
    "Tunis",
]
MASTER = "sk-master-evals-0123456789"
GOOD = [{"role": "user", "content": "Tell me about {{ city }}."}]
SAME = [{"role": "user", "content": "Please tell me about {{ city }}, briefly."}]
PLANTED = [{"role": "user", "content": "Tell me about a city. WRONG template."}]


def _suite(candidate_prompt: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "description": "city answers",
        "targets": [
            {"label": "baseline", "model": "echo", "prompt": GOOD},
            {"label": "candidate", "model": "echo", "prompt": candidate_prompt},
        ],
        "defaults": {
            "judge": "judge-oracle",
            "assert": [{"type": "contains", "value": "{{ city }}"}, {"type": "rubric"}],
        },
        "cases": [{"id": c.lower(), "vars": {"city": c}} for c in CITIES],
        "gate": {"pass_rate_margin": 0.05, "score_margin": 0.05},
    }


@pytest.fixture(scope="module")
def fake() -> Iterator[ThreadedFake]:
    with start_in_thread() as f:
        yield f


@pytest.fixture(scope="module")
def live(
    fake: ThreadedFake, judges: dict[str, ThreadedFake], tmp_path_factory: Any
) -> Iterator[tuple[LiveGateway, Path]]:
    """One live gateway for the module, and its config written to a file."""
    tmp = tmp_path_factory.mktemp("gate")
    settings = eval_settings(tmp, judges, fake, master_key=MASTER)
    config = tmp / "lockgate.yaml"
    config.write_text(yaml.safe_dump(_config_mapping(settings)))
    with serve_in_thread(settings) as gw:
        yield gw, config


def _config_mapping(settings: Any) -> dict[str, Any]:
    data = settings.model_dump(
        mode="json", include={"model_list", "router_settings", "general_settings"}
    )
    for entry in data["model_list"]:
        entry["params"] = {k: v for k, v in entry["params"].items() if v is not None}
        entry["params"]["api_key"] = "sk-x" if "api_base" in entry["params"] else None
        entry["params"] = {k: v for k, v in entry["params"].items() if v is not None}
    data["general_settings"] = {
        "database_url": settings.general_settings.database_url,
        "master_key": MASTER,
    }
    return data


def _write(tmp: Path, name: str, data: dict[str, Any]) -> Path:
    path = tmp / name
    path.write_text(yaml.safe_dump(data))
    return path


def _eval(*args: str) -> Any:
    return CliRunner().invoke(app, ["eval", *args, "--no-progress"])


def test_compare_fails_on_a_planted_regression(
    live: tuple[LiveGateway, Path], tmp_path: Path
) -> None:
    """The candidate whose template loses the question regresses: exit 1, reports written."""
    gw, _ = live
    suite = _write(tmp_path, "suite.yaml", _suite(PLANTED))
    out = {k: tmp_path / f"r.{k}" for k in ("json", "xml", "html")}
    result = _eval(
        "compare",
        str(suite),
        "--url",
        gw.url,
        "--api-key",
        MASTER,
        "--cache-dir",
        str(tmp_path / "c"),
        "--json",
        str(out["json"]),
        "--junit",
        str(out["xml"]),
        "--html",
        str(out["html"]),
    )
    assert result.exit_code == 1, result.output
    assert "REGRESSION: pass rate fell by 100.0%" in result.output
    data = json.loads(out["json"].read_text())
    cmp = data["comparison"]
    assert cmp["regression"] and cmp["mcnemar"]["baseline_only_passed"] == 20
    assert cmp["mcnemar"]["p_value"] < 1e-5
    assert cmp["score_delta"]["estimate"] == -1.0 and cmp["score_delta"]["high"] < 0
    root = ET.fromstring(out["xml"].read_text())
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert suites["candidate"].get("failures") == "20" and suites["baseline"].get("failures") == "0"
    assert suites["comparison"].get("failures") == "1"
    html = out["html"].read_text()
    assert "<del>" in html and "<ins>" in html and "REGRESSION" in html
    assert "http://" not in html.replace(gw.url, "") and "<script" not in html


def test_compare_passes_without_the_regression(
    live: tuple[LiveGateway, Path], tmp_path: Path
) -> None:
    """A harmless rewording of the template: no regression, exit 0."""
    gw, _ = live
    suite = _write(tmp_path, "suite.yaml", _suite(SAME))
    result = _eval("compare", str(suite), "--url", gw.url, "--api-key", MASTER, "--no-cache")
    assert result.exit_code == 0, result.output
    assert "no regression beyond the margin" in result.output


def test_run_exit_codes_in_process(live: tuple[LiveGateway, Path], tmp_path: Path) -> None:
    """`eval run` in-process from the config file: 1 with the planted failure, 0 without."""
    _, config = live
    bad = _write(tmp_path, "bad.yaml", _suite(PLANTED))
    good = _write(tmp_path, "good.yaml", _suite(SAME))
    failed = _eval("run", str(bad), "-c", str(config), "--no-cache")
    assert failed.exit_code == 1, failed.output
    assert "FAIL candidate / paris" in failed.output
    passed = _eval("run", str(good), "-c", str(config), "--no-cache")
    assert passed.exit_code == 0, passed.output
    only = _eval("run", str(bad), "-c", str(config), "--no-cache", "--target", "baseline")
    assert only.exit_code == 0, only.output


def test_errors_exit_2(live: tuple[LiveGateway, Path], tmp_path: Path) -> None:
    """A judge that is down makes compare exit 2 (not 1): errors are not regressions."""
    gw, _ = live
    data = _suite(PLANTED)
    data["defaults"]["judge"] = "judge-down"
    result = _eval(
        "compare",
        str(_write(tmp_path, "s.yaml", data)),
        "--url",
        gw.url,
        "--api-key",
        MASTER,
        "--no-cache",
    )
    assert result.exit_code == 2, result.output
    bad_suite = _write(tmp_path, "broken.yaml", {"targets": []})
    assert _eval("run", str(bad_suite), "--url", gw.url).exit_code == 2


def test_run_reports_flaky_cases_and_writes_reports(
    live: tuple[LiveGateway, Path], tmp_path: Path
) -> None:
    """--repeat with a coin-flipping judge lists the case as flaky; HTML and JSON are written."""
    _, config = live
    data = {
        "targets": ["echo"],
        "defaults": {"judge": "judge-random"},
        "cases": [
            {
                "id": "coin",
                "prompt": [{"role": "user", "content": "flip"}],
                "assert": [{"type": "rubric", "threshold": 0.5}],
            }
        ],
    }
    html, out = tmp_path / "r.html", tmp_path / "r.json"
    result = _eval(
        "run",
        str(_write(tmp_path, "s.yaml", data)),
        "-c",
        str(config),
        "--repeat",
        "12",
        "--no-cache",
        "--html",
        str(html),
        "--json",
        str(out),
        "--min-pass-rate",
        "0",
    )
    assert result.exit_code == 0, result.output
    assert "flaky cases over 12 repeats" in result.output
    report = json.loads(out.read_text())
    assert report["flaky"][0]["case_id"] == "coin" and report["repeat"] == 12
    assert len(report["results"]) == 12
    assert "<style>" in html.read_text() and "coin" in html.read_text()
