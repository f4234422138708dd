"""A canary rollout rolls itself back: 10% of the new version's upstream calls fail.

Real servers on 127.0.0.1: two fake OpenAI upstreams (old version's model, new
version's model), the gateway under uvicorn, the official openai SDK as the client.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from pathlib import Path

import httpx
import openai
from tests.fakes import Fault, start_in_thread
from tests.live_server import serve_in_thread
from tests.support import MASTER, bearer

from lockgate.settings import settings_from_mapping

INTERVAL = 2.0  # each check needs min_requests canary calls: a slow box still sends them
FAILURE_LIMIT = 2


def settings(tmp_path: Path, old_url: str, new_url: str):
    """Two aliases on two fakes, fast polling, ticks and usage flushes, no retries."""

    def alias(name: str, url: str) -> dict:
        return {
            "model_name": name,
            "params": {"model": "openai/gpt-4o-mini", "api_base": url, "api_key": "sk-up"},
        }

    return settings_from_mapping(
        {
            "model_list": [alias("model-old", old_url), alias("model-new", new_url)],
            "router_settings": {"num_retries": 0},
            "general_settings": {
                "master_key": MASTER,
                "database_url": f"sqlite+aiosqlite:///{tmp_path}/gw.db",
            },
            "usage": {"flush_interval_seconds": 0.1},
            "prompts": {"poll_interval_seconds": 0.2, "rollout_tick_seconds": 0.1},
        },
        env={},
    )


def prompt(model: str, labels: list[str]) -> dict:
    """The 'support' prompt on ``model``."""
    return {
        "name": "support",
        "model": model,
        "labels": labels,
        "messages": [{"role": "system", "content": "Be brief."}],
    }


def drive(client: openai.OpenAI, stop: threading.Event, seen: list, limit: int = 4000) -> None:
    """Send requests until told to stop (bounded); note (status, prompt, time) for each."""
    for i in range(limit):
        if stop.is_set():
            return
        try:
            raw = client.chat.completions.with_raw_response.create(
                model="ignored",
                messages=[{"role": "user", "content": f"q{i}"}],
                extra_body={"prompt": {"name": "support"}},
            )
            seen.append(
                (raw.http_response.status_code, raw.headers["x-lockgate-prompt"], time.time())
            )
        except openai.APIStatusError as exc:
            seen.append(
                (exc.status_code, exc.response.headers.get("x-lockgate-prompt"), time.time())
            )


def test_canary_with_errors_rolls_back_and_old_version_serves_everything(tmp_path):
    """Rollback on the failure_limit-th check; every failure was a canary request."""
    with contextlib.ExitStack() as stack, start_in_thread() as old, start_in_thread() as new:
        new.script(*([None] * 9 + [Fault.error(500)]) * 300)
        with serve_in_thread(settings(tmp_path, old.openai_base_url, new.openai_base_url)) as gw:
            admin = httpx.Client(base_url=gw.url, headers=bearer(), timeout=10)
            stack.callback(admin.close)
            assert (
                admin.post("/admin/prompts", json=prompt("model-old", ["production"])).status_code
                == 201
            )
            assert admin.post("/admin/prompts", json=prompt("model-new", [])).status_code == 201
            client = openai.OpenAI(base_url=gw.v1, api_key=MASTER, max_retries=0)
            seen: list = []
            stop = threading.Event()
            workers = [threading.Thread(target=drive, args=(client, stop, seen)) for _ in range(3)]
            for w in workers:
                w.start()
            rollout = {
                "name": "support-v2",
                "prompt": "support",
                "to_version": 2,
                "steps": [25, 50, 100],
                "interval_seconds": INTERVAL,
                "failure_limit": FAILURE_LIMIT,
                "min_requests": 10,
                "guards": {"max_error_rate_increase": 0.02, "max_p95_latency_ratio": None},
            }
            try:
                assert admin.post("/admin/rollouts", json=rollout).status_code == 201
                deadline = time.monotonic() + 60
                state = {}
                while time.monotonic() < deadline:
                    state = admin.get("/admin/rollouts/support-v2").json()
                    if state["status"] != "running":
                        break
                    time.sleep(0.1)
                rolled_back_at = time.time()
                time.sleep(0.5)  # the replica's registry has refreshed well before this
                after_mark = len(seen)
                time.sleep(0.5)
            finally:
                stop.set()
                for w in workers:
                    w.join(timeout=30)
                client.close()
            assert state["status"] == "rolled_back", state
            kinds = [e["kind"] for e in state["events"]]
            assert kinds == ["start", "fail", "fail", "rollback"], state["events"]
            start_at = state["started_at"]
            # Checks are scheduled at start + k * interval: the rollback came with the
            # failure_limit-th check, inside interval x (failure_limit + 1).
            due = state["events"][-1]["due"]
            assert due == start_at + FAILURE_LIMIT * INTERVAL
            assert due - start_at <= INTERVAL * (FAILURE_LIMIT + 1)
            assert state["weight"] == 0

            tail = seen[after_mark:]
            assert tail and all(s == 200 and p == "support@1" for s, p, _ in tail)
            assert any(p == "support@2" for _, p, t in seen if t < rolled_back_at)

            metrics = admin.get("/metrics").text
            assert (
                'lockgate_rollout_aborts_total{reason="guard",rollout="support-v2"} 1.0' in metrics
            )
        rows = (
            sqlite3.connect(tmp_path / "gw.db")
            .execute(
                "SELECT prompt_version, variant, status FROM usage_records WHERE status >= 500"
            )
            .fetchall()
        )
        assert rows and all(v == "support@2" and arm == "canary" for v, arm, _ in rows)
        failures = [p for s, p, _ in seen if s >= 500]
        assert failures and set(failures) == {"support@2"}
