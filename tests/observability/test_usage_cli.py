"""``lockgate usage`` as a subprocess, reading rows the gateway wrote to a SQLite file."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from asgi_lifespan import LifespanManager
from tests.support import MASTER, bearer

import lockgate
from lockgate.app import create_app
from lockgate.settings import load_settings

SRC = str(Path(lockgate.__file__).resolve().parent.parent)
P_IN, P_OUT = 1000.0, 2000.0


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "lockgate.yaml"
    data = {
        "model_list": [
            {
                "model_name": "priced",
                "params": {
                    "model": "mock/mock-1",
                    "input_cost_per_million": P_IN,
                    "output_cost_per_million": P_OUT,
                },
            }
        ],
        "general_settings": {
            "database_url": f"sqlite+aiosqlite:///{tmp_path}/cli.db",
            "master_key": MASTER,
        },
        "usage": {"batch_size": 1000, "flush_interval_seconds": 60},
    }
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


async def _traffic(config: Path) -> dict[str, tuple[int, int, int]]:
    """Per key name: (requests, prompt tokens, completion tokens) the clients were told."""
    seen: dict[str, tuple[int, int, int]] = {}
    manager = LifespanManager(
        startup_timeout=120, shutdown_timeout=120, app=create_app(load_settings(config, env={}))
    )
    await manager.__aenter__()
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(manager.app), base_url="http://gateway"
        ) as client:
            for name, count in (("cli-alpha", 3), ("cli-beta", 2)):
                made = await client.post("/admin/keys", headers=bearer(), json={"name": name})
                key = made.json()["key"]
                for i in range(count):
                    r = await client.post(
                        "/v1/chat/completions",
                        headers=bearer(key),
                        json={
                            "model": "priced",
                            "messages": [{"role": "user", "content": f"{name} asks {i} " * i}],
                        },
                    )
                    assert r.status_code == 200
                    u = r.json()["usage"]
                    n, pt, ct = seen.get(name, (0, 0, 0))
                    seen[name] = (n + 1, pt + u["prompt_tokens"], ct + u["completion_tokens"])
                    r = await client.post(
                        "/v1/feedback",
                        headers=bearer(key),
                        json={"request_id": r.headers["x-request-id"], "score": i},
                    )
                    assert r.status_code == 201
    finally:
        # Shutdown is what writes the rows: no report ran, the interval is long.
        await manager.__aexit__(None, None, None)
    return seen


async def _cli(*args: str) -> tuple[int, str, str]:
    env = {**os.environ, "PYTHONPATH": SRC, "COLUMNS": "200", "NO_COLOR": "1"}
    env.pop("LOCKGATE_CONFIG", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "lockgate",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    async with asyncio.timeout(60):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def _cost(pt: int, ct: int) -> float:
    return (pt * P_IN + ct * P_OUT) / 1e6


async def test_report_json_has_exact_totals(tmp_path):
    """--by key --json prints one row per key and totals equal to the responses' usage."""
    config = _config(tmp_path)
    seen = await _traffic(config)
    code, out, err = await _cli("usage", "report", "--by", "key", "--json", "--config", str(config))
    assert code == 0, err
    data: dict[str, Any] = json.loads(out)
    assert data["group_by"] == ["key"]
    rows = {r["group"]["key_name"]: r for r in data["rows"]}
    assert set(rows) == set(seen)
    for name, (n, pt, ct) in seen.items():
        row = rows[name]
        assert (row["requests"], row["prompt_tokens"], row["completion_tokens"]) == (n, pt, ct)
        assert row["cost_usd"] == pytest.approx(_cost(pt, ct), abs=1e-8)
        assert row["errors"] == 0
    tot = data["totals"]
    assert tot["requests"] == sum(v[0] for v in seen.values())
    assert tot["prompt_tokens"] == sum(v[1] for v in seen.values())
    assert tot["completion_tokens"] == sum(v[2] for v in seen.values())
    assert tot["cost_usd"] == pytest.approx(
        sum(_cost(pt, ct) for _, pt, ct in seen.values()), abs=1e-8
    )


async def test_report_table_names_the_keys(tmp_path):
    """The table output lists each key by name and the total request count."""
    config = _config(tmp_path)
    seen = await _traffic(config)
    code, out, err = await _cli("usage", "report", "--by", "key", "--config", str(config))
    assert code == 0, err
    for name in seen:
        assert name in out
    total_line = next(line for line in out.splitlines() if "total" in line)
    assert str(sum(v[0] for v in seen.values())) in total_line


async def test_feedback_json_counts(tmp_path):
    """``usage feedback --json`` gives the per-model count and mean score of what was posted."""
    config = _config(tmp_path)
    await _traffic(config)
    code, out, err = await _cli("usage", "feedback", "--json", "--config", str(config))
    assert code == 0, err
    data = json.loads(out)
    assert [(d["model"], d["count"]) for d in data] == [("priced", 5)]
    # scores posted: 0, 1, 2 (alpha) and 0, 1 (beta)
    assert data[0]["avg_score"] == pytest.approx(4 / 5)


async def test_unknown_dimension_exits_2(tmp_path):
    """An unknown --by dimension is an error naming it, exit status 2."""
    config = _config(tmp_path)
    code, _, err = await _cli("usage", "report", "--by", "colour", "--config", str(config))
    assert code == 2
    assert "colour" in err
