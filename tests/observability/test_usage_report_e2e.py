"""Known traffic through the gateway: /admin/usage totals equal what the responses reported."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from tests.support import MASTER, bearer

from lockgate.app import create_app
from lockgate.settings import Settings, settings_from_mapping
from lockgate.storage.database import Database
from lockgate.usage.reports import ReportQuery, day_of, totals
from lockgate.usage.repository import UsageRepository

PRICES = {
    "alpha-model": (1000.0, 2000.0),
    "beta-model": (3000.0, 500.0),
}


def _settings(tmp_path: Path) -> Settings:
    models = [
        {
            "model_name": name,
            "params": {
                "model": "mock/mock-1",
                "input_cost_per_million": p_in,
                "output_cost_per_million": p_out,
            },
        }
        for name, (p_in, p_out) in PRICES.items()
    ]
    return settings_from_mapping(
        {
            "model_list": models,
            "general_settings": {
                "database_url": f"sqlite+aiosqlite:///{tmp_path}/usage.db",
                "master_key": MASTER,
            },
            # Long interval: only reports and shutdown write rows.
            "usage": {"batch_size": 1000, "flush_interval_seconds": 60},
        },
        env={},
    )


def _cost(model: str, pt: int, ct: int) -> float:
    p_in, p_out = PRICES[model]
    return (pt * p_in + ct * p_out) / 1e6


class Ledger:
    """What the clients saw, per request, to compare reports against."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def add(self, key: str, team: str, user: str | None, model: str, pt: int, ct: int) -> None:
        self.rows.append(
            {"key": key, "team": team, "user": user, "model": model, "pt": pt, "ct": ct}
        )

    def by(self, field: str) -> dict[Any, tuple[int, int, int, float]]:
        out: dict[Any, tuple[int, int, int, float]] = {}
        for r in self.rows:
            n, pt, ct, cost = out.get(r[field], (0, 0, 0, 0.0))
            c = _cost(r["model"], r["pt"], r["ct"]) if r["model"] in PRICES else 0.0
            out[r[field]] = (n + 1, pt + r["pt"], ct + r["ct"], cost + c)
        return out


async def _key(client: httpx.AsyncClient, name: str, team: str) -> tuple[str, str]:
    r = await client.post("/admin/keys", headers=bearer(), json={"name": name, "team": team})
    assert r.status_code == 201
    return r.json()["key"], r.json()["id"]


async def _chat(
    client: httpx.AsyncClient, key: str, model: str, text: str, user: str | None
) -> httpx.Response:
    body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": text}]}
    if user is not None:
        body["user"] = user
    return await client.post("/v1/chat/completions", headers=bearer(key), json=body)


async def _stream_usage(client: httpx.AsyncClient, key: str, model: str, text: str) -> dict:
    body = {
        "model": model,
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": text}],
    }
    r = await client.post("/v1/chat/completions", headers=bearer(key), json=body)
    assert r.status_code == 200
    chunks = [
        json.loads(line[6:])
        for line in r.text.splitlines()
        if line.startswith("data: ") and line != "data: [DONE]"
    ]
    usage = [c["usage"] for c in chunks if c.get("usage")]
    assert len(usage) == 1
    return usage[0]


async def _traffic(client: httpx.AsyncClient, keys: dict[str, tuple[str, str]], ledger: Ledger):
    plan = [
        ("k-one", "red", "ann", "alpha-model", "first question about apples"),
        ("k-one", "red", "bob", "beta-model", "second question, a longer one about pears"),
        ("k-two", "blue", "ann", "alpha-model", "third"),
        ("k-two", "blue", "bob", "beta-model", "fourth question with quite a few words in it"),
        ("k-one", "red", "ann", "beta-model", "fifth"),
        ("k-two", "blue", None, "alpha-model", "sixth, no user given"),
    ]
    for name, team, user, model, text in plan:
        r = await _chat(client, keys[name][0], model, text, user)
        assert r.status_code == 200
        u = r.json()["usage"]
        ledger.add(name, team, user, model, u["prompt_tokens"], u["completion_tokens"])
    u = await _stream_usage(client, keys["k-two"][0], "beta-model", "streamed question words")
    ledger.add("k-two", "blue", None, "beta-model", u["prompt_tokens"], u["completion_tokens"])


def _check_group(
    rows: list[dict[str, Any]], field: str, want: dict[Any, tuple[int, int, int, float]]
) -> None:
    got = {
        r["group"][field]: (
            r["requests"],
            r["prompt_tokens"],
            r["completion_tokens"],
            r["cost_usd"],
        )
        for r in rows
    }
    assert set(got) == set(want), field
    for k, (n, pt, ct, cost) in want.items():
        assert got[k][:3] == (n, pt, ct), (field, k)
        assert got[k][3] == pytest.approx(cost, abs=1e-8), (field, k)


async def test_usage_report_adds_up_and_survives_shutdown(tmp_path):
    """Grouped reports, /api/stats and the DB after shutdown all equal the responses' usage."""
    settings = _settings(tmp_path)
    ledger = Ledger()
    manager = LifespanManager(startup_timeout=120, shutdown_timeout=120, app=create_app(settings))
    await manager.__aenter__()
    t0 = time.time()
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(manager.app), base_url="http://gateway"
        ) as client:
            keys = {
                "k-one": await _key(client, "k-one", "red"),
                "k-two": await _key(client, "k-two", "blue"),
            }
            await _traffic(client, keys, ledger)
            failed = await _chat(client, keys["k-one"][0], "no-such-model", "x", "ann")
            assert failed.status_code == 404

            want_n = len(ledger.rows) + 1
            want_pt = sum(r["pt"] for r in ledger.rows)
            want_ct = sum(r["ct"] for r in ledger.rows)
            want_cost = sum(_cost(r["model"], r["pt"], r["ct"]) for r in ledger.rows)

            reports: dict[str, dict[str, Any]] = {}
            for dim in ("key", "user", "team", "model", "day"):
                r = await client.get("/admin/usage", params={"group_by": dim}, headers=bearer())
                assert r.status_code == 200, r.text
                reports[dim] = r.json()
                tot = reports[dim]["totals"]
                assert tot["requests"] == want_n, dim
                assert tot["errors"] == 1, dim
                assert tot["prompt_tokens"] == want_pt, dim
                assert tot["completion_tokens"] == want_ct, dim
                assert tot["cost_usd"] == pytest.approx(want_cost, abs=1e-8), dim

            # The failed request counts as a request with no tokens, under its key and user.
            ledger_failed = {"key": "k-one", "team": "red", "user": "ann"}
            for dim, field in (("user", "user"), ("team", "team")):
                want = ledger.by(dim)
                n, pt, ct, cost = want.get(ledger_failed[dim], (0, 0, 0, 0.0))
                want[ledger_failed[dim]] = (n + 1, pt, ct, cost)
                _check_group(reports[dim]["rows"], field, want)
            by_key = ledger.by("key")
            n, pt, ct, cost = by_key["k-one"]
            by_key["k-one"] = (n + 1, pt, ct, cost)
            _check_group(reports["key"]["rows"], "key_name", by_key)
            assert {
                r["group"]["key_name"]: r["group"]["key_id"] for r in reports["key"]["rows"]
            } == {name: kid for name, (_, kid) in keys.items()}
            by_model = ledger.by("model")
            by_model["(unknown)"] = (1, 0, 0, 0.0)
            _check_group(reports["model"]["rows"], "model", by_model)
            days = {r["group"]["day"] for r in reports["day"]["rows"]}
            assert days <= {day_of(t0), day_of(time.time())} and days

            stats = (await client.get("/api/stats", headers=bearer())).json()
            assert stats["total_requests"] == want_n
            assert stats["cost_usd"] == pytest.approx(want_cost, abs=1e-8)
            for model, (n, pt, ct, cost) in ledger.by("model").items():
                m = stats["models"][model]
                assert (m["requests"], m["prompt_tokens"], m["completion_tokens"]) == (n, pt, ct)
                assert m["cost_usd"] == pytest.approx(cost, abs=1e-8)

            # More traffic that no report flushes: only shutdown can write it.
            await _traffic(client, keys, ledger)
    finally:
        await manager.__aexit__(None, None, None)

    db = Database(settings.general_settings.database_url)
    try:
        rows = await UsageRepository(db).report(ReportQuery(group_by=("model",)))
    finally:
        await db.aclose()
    tot = totals(rows)
    assert tot.requests == len(ledger.rows) + 1
    assert tot.prompt_tokens == sum(r["pt"] for r in ledger.rows)
    assert tot.completion_tokens == sum(r["ct"] for r in ledger.rows)
    assert tot.cost_usd == pytest.approx(
        sum(_cost(r["model"], r["pt"], r["ct"]) for r in ledger.rows), abs=1e-8
    )
