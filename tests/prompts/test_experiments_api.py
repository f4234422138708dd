"""Experiments through the gateway: sticky variants across replicas and restarts,
per-variant status with intervals, promotion that moves the label."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from tests.prompts.conftest import gateway_settings

PROMPT = {
    "name": "greet",
    "model": "mock",
    "messages": [{"role": "user", "content": "Hello {{ who }}"}],
    "labels": ["production"],
}
EXPERIMENT = {
    "name": "greet-test",
    "prompt": "greet",
    "unit": "user",
    "metric": "thumbs",
    "variants": [
        {"name": "control", "weight": 50},
        {"name": "terse", "version": 2, "weight": 30},
        {"name": "other-model", "model": "mock-b", "weight": 20},
    ],
}


def body(user: str) -> dict:
    """A chat from ``user`` through the greet prompt."""
    return {"prompt": {"name": "greet", "variables": {"who": user}}, "user": user}


async def setup(gw) -> None:
    """Two versions of greet and a running experiment."""
    await gw.post("/admin/prompts", json=PROMPT)
    await gw.post(
        "/admin/prompts",
        json={**PROMPT, "labels": [], "messages": [{"role": "user", "content": "Hi {{ who }}"}]},
    )
    r = await gw.post("/admin/experiments", json=EXPERIMENT)
    assert r.status_code == 201, r.text


async def assignments(gw, users) -> dict[str, tuple[str, str, str]]:
    """user -> (variant header, prompt header, upstream model)."""
    out = {}
    for u in users:
        r = await gw.post("/v1/chat/completions", json=body(u))
        assert r.status_code == 200, r.text
        out[u] = (
            r.headers["x-lockgate-experiment"],
            r.headers["x-lockgate-prompt"],
            r.headers["x-lockgate-model"],
        )
    return out


async def test_assignment_is_sticky_across_replicas_and_restarts(open_gateway, tmp_path: Path):
    """Two replicas, then a restarted one, give every user the same variant."""
    url = f"sqlite+aiosqlite:///{tmp_path}/gw.db"
    a = await open_gateway(gateway_settings(url))
    await setup(a)
    b = await open_gateway(gateway_settings(url))
    users = [f"user-{i}" for i in range(60)]
    first = await assignments(a, users)
    assert await assignments(b, users) == first
    variants = {v for v, _, _ in first.values()}
    assert variants == {"greet-test:control", "greet-test:terse", "greet-test:other-model"}
    for variant, prompt, model in first.values():
        expected = {
            "greet-test:control": ("greet@1", "mock-1"),
            "greet-test:terse": ("greet@2", "mock-1"),
            "greet-test:other-model": ("greet@1", "mock-2"),
        }[variant]
        assert (prompt, model) == expected
    restarted = await open_gateway(gateway_settings(url))
    assert await assignments(restarted, users[:20]) == {u: first[u] for u in users[:20]}


async def test_status_reports_intervals_and_promotion_moves_the_label(open_gateway, tmp_path):
    """Feedback flows into per-variant metrics; promoting records the label move."""
    url = f"sqlite+aiosqlite:///{tmp_path}/gw.db"
    gw = await open_gateway(gateway_settings(url))
    await setup(gw)
    for i in range(120):
        r = await gw.post("/v1/chat/completions", json=body(f"u{i}"))
        variant = r.headers["x-lockgate-experiment"].split(":")[1]
        thumbs = "up" if variant == "terse" or i % 3 == 0 else "down"
        fb = await gw.post(
            "/v1/feedback", json={"request_id": r.headers["x-request-id"], "thumbs": thumbs}
        )
        assert fb.status_code == 201
    status = (await gw.get("/admin/experiments/greet-test")).json()
    assert status["method"].startswith("mSPRT")
    total = sum(v["requests"] for v in status["variants"].values())
    assert total == 120
    terse = status["comparisons"]["terse"]["thumbs"]
    assert terse is not None and terse["low"] < terse["difference"] < terse["high"]
    assert status["srm"]["p_value"] is not None and "alarm" in status["srm"]
    assert status["variants"]["control"]["latency_p95_ms"] >= 0

    promoted = (
        await gw.post("/admin/experiments/greet-test/promote", json={"variant": "other-model"})
    ).json()
    assert promoted["variant"] == "other-model" and promoted["version"] == 3
    shown = (await gw.get("/admin/prompts/greet")).json()
    assert shown["labels"]["production"] == 3
    assert shown["versions"][-1]["model"] == "mock-b"
    assert "promoted variant other-model" in shown["history"][-1]["reason"]
    after = await gw.post("/v1/chat/completions", json=body("u1"))
    assert after.headers["x-lockgate-prompt"] == "greet@3"
    assert "x-lockgate-experiment" not in after.headers


async def test_sessions_are_the_analysis_unit(open_gateway, tmp_path):
    """unit: session — three requests per session count as one unit in the status."""
    url = f"sqlite+aiosqlite:///{tmp_path}/gw.db"
    gw = await open_gateway(gateway_settings(url))
    await gw.post("/admin/prompts", json=PROMPT)
    await gw.post(
        "/admin/prompts",
        json={**PROMPT, "labels": [], "messages": [{"role": "user", "content": "Hi {{ who }}"}]},
    )
    exp = {**EXPERIMENT, "unit": "session", "variants": EXPERIMENT["variants"][:2]}
    assert (await gw.post("/admin/experiments", json=exp)).status_code == 201
    seen: dict[str, set[str]] = {}
    for s in range(10):
        for _ in range(3):
            r = await gw.post(
                "/v1/chat/completions", json=body("x"), headers={"x-session-id": f"s{s}"}
            )
            seen.setdefault(f"s{s}", set()).add(r.headers["x-lockgate-experiment"])
    assert all(len(v) == 1 for v in seen.values())
    status = (await gw.get("/admin/experiments/greet-test")).json()
    assert sum(v["requests"] for v in status["variants"].values()) == 30
    assert sum(v["units"] for v in status["variants"].values()) == 10


async def test_healthy_rollout_steps_to_100_and_moves_the_label(open_gateway, tmp_path):
    """No errors: the rollout passes every step, succeeds, and the label moves (recorded)."""
    url = f"sqlite+aiosqlite:///{tmp_path}/gw.db"
    gw = await open_gateway(
        gateway_settings(url, prompts={"poll_interval_seconds": 0.1, "rollout_tick_seconds": 0.05})
    )
    await setup(gw)
    await gw.post("/admin/experiments/greet-test/stop")
    rollout = {
        "name": "greet-v2",
        "prompt": "greet",
        "to_version": 2,
        "steps": [50, 100],
        "interval_seconds": 0.2,
        "min_requests": 2,
        # in-process latencies on a loaded machine are noise; the guard has its own tests
        "guards": {"max_p95_latency_ratio": None},
    }
    assert (await gw.post("/admin/rollouts", json=rollout)).status_code == 201
    state: dict = {}
    # Bounded in time as well as count: a fast machine sends 2,000 requests before the
    # rollout's intervals and its records' flushes have passed (the steps are timed).
    deadline = time.monotonic() + 60
    for i in range(20_000):
        await gw.post("/v1/chat/completions", json=body(f"u{i}"))
        if i % 10 == 0:
            state = (await gw.get("/admin/rollouts/greet-v2")).json()
            if state["status"] != "running" or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.01)
    assert state["status"] == "succeeded", state["events"]
    kinds = [e["kind"] for e in state["events"] if e["kind"] != "inconclusive"]
    assert kinds == ["start", "pass", "step", "pass", "promote"]
    shown = (await gw.get("/admin/prompts/greet")).json()
    assert shown["labels"]["production"] == 2
    assert shown["history"][-1]["actor"] == "rollout:greet-v2"
    after = await gw.post("/v1/chat/completions", json=body("late"))
    assert after.headers["x-lockgate-prompt"] == "greet@2"
    metrics = (await gw.get("/metrics")).text
    assert 'lockgate_rollout_events_total{kind="promote",rollout="greet-v2"} 1.0' in metrics
