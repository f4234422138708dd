"""`lockgate route calibrate` as a subprocess on a JSONL sample of traffic."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

TOPICS = [
    "algebra",
    "poetry",
    "tax law",
    "cooking",
    "orbital mechanics",
    "grammar",
    "chess",
    "history",
]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOCKGATE_")}
    return subprocess.run(
        [sys.executable, "-m", "lockgate", "route", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def sample(path: Path, labelled: bool) -> None:
    rows = []
    for i in range(40):
        topic = TOPICS[i % len(TOPICS)]
        row: dict[str, object] = (
            {"prompt": f"Question {i} about {topic}: explain step {i % 5} in {i + 3} sentences."}
            if i % 2
            else {"messages": [{"role": "user", "content": f"Tell me about {topic} number {i}."}]}
        )
        if labelled:
            row.update(weak_correct=i % 3 != 0, strong_correct=i % 7 != 0)
        rows.append(row)
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")


def test_calibrate_reports_the_threshold_for_a_share(tmp_path: Path) -> None:
    """The threshold printed sends the asked share of the sample to the strong model."""
    f = tmp_path / "traffic.jsonl"
    sample(f, labelled=True)
    res = run("calibrate", str(f), "--share", "0.25", "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["prompts"] == 40
    assert abs(out["realised_share"] - 0.25) <= 0.05
    assert 0.0 < out["quality_kept"] <= 1.5
    text = run("calibrate", str(f), "--share", "0.5")
    assert text.returncode == 0 and "threshold for a 50% strong share" in text.stdout


def test_calibrate_names_the_bad_line(tmp_path: Path) -> None:
    """A malformed line is reported with its number, without a traceback."""
    f = tmp_path / "bad.jsonl"
    f.write_text('{"prompt": "ok"}\n{"nope": 1}\n')
    res = run("calibrate", str(f))
    assert res.returncode != 0
    assert "bad.jsonl:2" in res.stderr and "Traceback" not in res.stderr


def test_curve_reports_kept_quality_by_share(tmp_path: Path) -> None:
    """On a labelled sample: one point per 10% of strong calls, rising to 100% kept at
    all-strong, with intervals around each; the share a floor needs and its threshold."""
    f = tmp_path / "labelled.jsonl"
    sample(f, labelled=True)
    res = run("curve", str(f), "--floor", "0.9", "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["n"] == 40 and [p["share"] for p in out["points"]][-1] == 1.0
    assert out["points"][-1]["kept"] == 1.0
    assert all(p["low"] <= p["kept"] <= p["high"] for p in out["points"])
    assert 0.0 <= out["share_needed"] <= 1.0 and out["share_low"] <= out["share_high"]
    text = run("curve", str(f))
    assert text.returncode == 0 and "keeping 95% needs" in text.stdout


def test_curve_needs_labels(tmp_path: Path) -> None:
    """Unlabelled rows are refused by name, without a traceback."""
    f = tmp_path / "plain.jsonl"
    sample(f, labelled=False)
    res = run("curve", str(f))
    assert res.returncode != 0
    assert "weak_correct" in res.stderr and "Traceback" not in res.stderr
