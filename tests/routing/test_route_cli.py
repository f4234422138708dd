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


GATEWAY = """\
# routing for the team (a hand-written comment the edit keeps)
model_list:
  - model_name: big
    params: {{model: mock/big-1}}
  - model_name: small
    params: {{model: mock/small-1}}
general_settings:
  master_key: {master}
  database_url: sqlite+aiosqlite:///{tmp}/gw.db
routing:
  aliases:
    smart:
      strong: big
      weak: small
      quality_floor: 0.95  # the shipped calibration
"""

ASKED = [
    f"{verb} {topic}{tail}"
    for verb in ("Explain", "Prove a result about", "Summarise")
    for topic in TOPICS
    for tail in ("", " with a worked example and every step shown.")
]


def test_calibrate_writes_the_threshold_a_running_gateway_then_routes_with(
    tmp_path: Path,
) -> None:
    """`calibrate --share 0.5 --write` on a sample sets the alias's threshold in the config
    file (comment kept, quality_floor gone); after SIGHUP the running `lockgate serve`
    routes with it: every header shows the new threshold, strong iff score > threshold,
    about half the sample goes strong, and /metrics shows the threshold and the realised
    strong share of the decisions made with it."""
    import signal
    import time

    import httpx
    from tests.conftest import free_port
    from tests.live_server import spawn_serve, wait_ok
    from tests.support import MASTER, bearer

    config, log = tmp_path / "gw.yaml", tmp_path / "gw.log"
    config.write_text(GATEWAY.format(master=MASTER, tmp=tmp_path))
    traffic = tmp_path / "traffic.jsonl"
    traffic.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in ASKED))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = spawn_serve(config, port, log)
    try:
        wait_ok(url, timeout=120, proc=proc, log=log)  # the local MiniLM loads first

        def route(text: str) -> tuple[str, float, float]:
            body = {"model": "smart", "messages": [{"role": "user", "content": text}]}
            res = httpx.post(url + "/v1/chat/completions", json=body, headers=bearer(), timeout=30)
            assert res.status_code == 200, res.text
            parts = dict(p.split("=") for p in res.headers["x-lockgate-route"].split("; ")[1:])
            choice = res.headers["x-lockgate-route"].split(";")[0]
            return choice, float(parts["score"]), float(parts["threshold"])

        assert route(ASKED[0])[2] == 0.05  # quality_floor 0.95
        res = run("calibrate", str(traffic), "--share", "0.5", "--write", str(config), "--json")
        assert res.returncode == 0, res.stderr
        out = json.loads(res.stdout)
        assert out["alias"] == "smart" and out["written"] == str(config)
        threshold = round(out["threshold"], 6)
        text = config.read_text()
        assert "# routing for the team (a hand-written comment the edit keeps)" in text
        assert "quality_floor" not in text and f"threshold: {threshold}" in text

        proc.send_signal(signal.SIGHUP)
        seen: list[tuple[str, float, float]] = []
        deadline = time.monotonic() + 30
        while not seen or seen[-1][2] != threshold:
            assert time.monotonic() < deadline, f"threshold never moved: {seen[-1:]}"
            seen.append(route(ASKED[0]))
            time.sleep(0.05)
        after = [seen[-1]] + [route(p) for p in ASKED]
        assert all(t == threshold for _, _, t in after)
        # (the header prints 6 decimals: the prompt at the threshold itself can print equal)
        assert all((c == "strong") == (s > t) for c, s, t in after if s != t)
        strong = sum(c == "strong" for c, _, _ in after[1:])
        assert abs(strong - len(ASKED) / 2) <= 2, (strong, len(ASKED))
        metrics = httpx.get(url + "/metrics", headers=bearer(), timeout=10).text
        gauge = {
            line.split(" ")[0]: float(line.split(" ")[1])
            for line in metrics.splitlines()
            if line.startswith("lockgate_route_")
        }
        assert gauge['lockgate_route_threshold{alias="smart"}'] == threshold
        realised = sum(c == "strong" for c, _, _ in after) / len(after)
        assert abs(gauge['lockgate_route_strong_share{alias="smart"}'] - realised) < 1e-9
        assert "routing goals reloaded for smart" in log.read_text()
        assert "needs a restart" not in log.read_text()
    finally:
        proc.terminate()
        proc.wait(timeout=40)
