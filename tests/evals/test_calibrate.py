"""Judge calibration on the LLMBar dev pairs: the statistics catch each fake judge's flaw."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from lockgate.cli import app
from lockgate.evals.calibrate import (
    CalibrationReport,
    calibration_report,
    judge_gold_pairs,
    load_gold_pairs,
)
from lockgate.evals.client import GatewayClient

from .conftest import GOLD, judge_models

PAIRS = load_gold_pairs(GOLD)


async def _calibrate(client: GatewayClient, kind: str, n: int = 160) -> CalibrationReport:
    judged = await judge_gold_pairs(client, f"judge-{kind}", PAIRS[:n], concurrency=16)
    return calibration_report(f"judge-{kind}", judged, np.random.default_rng(0), resamples=400)


def test_the_dev_set_is_whole() -> None:
    """285 LLMBar pairs in four subsets, labels 1 or 2."""
    assert len(PAIRS) == 285
    assert {p.source for p in PAIRS} == {
        "LLMBar/Natural",
        "LLMBar/Adversarial/GPTInst",
        "LLMBar/Adversarial/GPTOut",
        "LLMBar/Adversarial/Manual",
    }


async def test_oracle_judge_is_perfect(client: GatewayClient) -> None:
    """The oracle: accuracy, kappa and positional agreement all 1, no warnings."""
    r = await _calibrate(client, "oracle", len(PAIRS))
    o = r.overall
    assert o.pairs == 285 and o.errors == 0
    assert o.accuracy.estimate == 1.0 and o.kappa.estimate == pytest.approx(1.0)
    assert o.positional_agreement.estimate == 1.0 and r.warnings == []
    assert [s.pairs for s in r.subsets] == [92, 47, 46, 100]


async def test_always_first_judge_is_caught(client: GatewayClient) -> None:
    """Always "A": half right by construction, kappa 0, positional agreement 0."""
    r = await _calibrate(client, "always_first")
    o = r.overall
    assert o.accuracy.estimate == pytest.approx(0.5)
    assert o.positional_agreement.estimate == 0.0
    assert o.kappa.low <= 0.0 <= o.kappa.high
    assert any("chance" in w for w in r.warnings)
    assert any("positional agreement" in w for w in r.warnings)


async def test_random_judge_is_caught(client: GatewayClient) -> None:
    """A coin: accuracy's interval holds 0.5, kappa's holds 0, agreement near one half."""
    r = await _calibrate(client, "random")
    o = r.overall
    assert o.accuracy.low <= 0.5 <= o.accuracy.high
    assert o.kappa.low <= 0.0 <= o.kappa.high
    assert 0.3 < o.positional_agreement.estimate < 0.7
    assert any("chance" in w for w in r.warnings)


async def test_position_biased_judge_is_caught(client: GatewayClient) -> None:
    """Better than chance yet order-dependent: kappa above 0, agreement far below 80%."""
    r = await _calibrate(client, "position_biased")
    o = r.overall
    assert o.kappa.low > 0.0
    assert o.accuracy.high < 1.0
    assert o.positional_agreement.high < 0.8
    assert [w for w in r.warnings if "positional agreement" in w]
    assert not [w for w in r.warnings if "chance" in w]


async def test_broken_judge_counts_errors(client: GatewayClient) -> None:
    """A judge whose replies name no winner: every pair errors and the report says so."""
    r = await _calibrate(client, "broken", n=10)
    assert r.overall.errors == 10
    assert r.warnings[0] == "10 of 10 pairs could not be judged"


def test_calibrate_command(tmp_path: Path, judges: dict[str, Any]) -> None:
    """`lockgate eval calibrate` prints the table beside the published figures and writes JSON."""
    config = tmp_path / "lockgate.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "model_list": judge_models(judges),
                "general_settings": {"database_url": f"sqlite+aiosqlite:///{tmp_path}/c.db"},
            }
        )
    )
    out = tmp_path / "cal.json"
    result = CliRunner().invoke(
        app,
        [
            "eval",
            "calibrate",
            str(GOLD),
            "--judge",
            "judge-oracle",
            "-c",
            str(config),
            "--limit",
            "40",
            "--json",
            str(out),
            "--no-progress",
            "--cache-dir",
            str(tmp_path / "c"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "95.5%" in result.output and "MT-Bench" in result.output
    data = json.loads(out.read_text())
    assert data["overall"]["pairs"] == 40 and data["overall"]["accuracy"]["estimate"] == 1.0
    assert {p["value"] for p in data["published"]} == {0.955, 0.787, 0.81, 0.87}
