"""Online evaluation: sampled live answers judged off the request path, scores per variant."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from lockgate.app import create_app
from lockgate.evals.answer import Answer
from lockgate.evals.config import OnlineSettings
from lockgate.evals.online import OnlineEvaluator
from lockgate.evals.online_repository import OnlineScore
from lockgate.evals.sampling import DailyBudget, TokenBucket, sample_rate
from lockgate.records import RequestRecord
from lockgate.usage.tables import feedback

from .conftest import eval_settings


def _record(
    i: int, model: str = "echo", version: str | None = None, text: str = "fine"
) -> RequestRecord:
    return RequestRecord(
        request_id=f"req_{i}",
        started_at=0.0,
        api="openai",
        key_id=None,
        key_name=None,
        team=None,
        user=None,
        model=model,
        provider="openai",
        deployment=f"{model}#0",
        upstream_model=model,
        status=200,
        error_type=None,
        error_code=None,
        stream=False,
        prompt_tokens=1,
        completion_tokens=1,
        cached_tokens=0,
        cost_usd=0.0,
        latency_ms=1.0,
        overhead_ms=0.1,
        ttft_ms=None,
        attempts=1,
        cache=None,
        notes={"prompt_version": version} if version else {},
        request_body={"model": model, "messages": [{"role": "user", "content": "q"}]},
        response_body={"choices": [{"message": {"role": "assistant", "content": text}}]},
    )


class _Judge:
    """A ChatClient that scores 1 unless the answer says WRONG; counts calls."""

    def __init__(self, cost: float = 0.01) -> None:
        self.calls = 0
        self.cost = cost

    async def chat(
        self,
        model: str,
        messages: list[dict[str, Any]],
        params: dict[str, Any],
        *,
        fresh: bool = False,
    ) -> Answer:
        self.calls += 1
        score = 0.0 if "WRONG" in messages[-1]["content"] else 1.0
        return Answer(text=f'{{"score": {score}, "reason": "r"}}', cost_usd=self.cost)

    async def render_prompt(self, *a: Any) -> list[dict[str, Any]]:
        raise NotImplementedError


class _Store:
    def __init__(self) -> None:
        self.rows: list[OnlineScore] = []

    async def add(self, score: OnlineScore) -> None:
        self.rows.append(score)


def test_sample_rate_prefers_prompt_version_then_alias() -> None:
    """A prompt version's rate wins over its alias's, which wins over the default."""
    cfg = OnlineSettings(sample_rate=0.1, aliases={"bot": 0.5}, prompt_versions={"p@v2": 1.0})
    assert sample_rate(cfg, "bot", "p@v2") == 1.0
    assert sample_rate(cfg, "bot", "p@v1") == 0.5
    assert sample_rate(cfg, "other", None) == 0.1


def test_token_bucket_and_daily_budget() -> None:
    """The bucket refills at its rate; the budget resets on a new UTC day."""
    bucket = TokenBucket.full(60.0, now=0.0)
    assert bucket.take(0.0) and not bucket.take(0.0)
    assert bucket.wait_time(0.5) == 0.5
    assert bucket.take(1.0)
    budget = DailyBudget(1.0)
    assert budget.allows("2026-11-28")
    budget.charge("2026-11-28", 1.0)
    assert not budget.allows("2026-11-28") and budget.allows("2026-11-29")


async def test_evaluator_samples_scores_and_respects_budget_and_queue() -> None:
    """Sampling by rate, per-variant rows, budget stop and a bounded queue."""
    cfg = OnlineSettings(
        enabled=True,
        judge="j",
        aliases={"echo": 1.0, "off": 0.0},
        budget_usd_per_day=0.025,
        rate_per_minute=6000,
        max_queue=100,
    )
    judge, store = _Judge(), _Store()
    ev = OnlineEvaluator(cfg, judge, store, rng=random.Random(0))
    ev.submit(_record(0, "off"))
    for i in range(1, 4):
        ev.submit(_record(i, version="p@v2", text="WRONG" if i == 1 else "ok"))
    await ev.drain()
    assert ev.stats.sampled == 3
    assert sorted(r.score for r in store.rows) == [0.0, 1.0, 1.0]
    assert len(store.rows) == 3 and store.rows[0].prompt_version == "p@v2"
    ev.submit(_record(9))  # the budget (0.025) is spent after three 0.01 calls
    await ev.drain()
    assert ev.stats.skipped_budget == 1 and judge.calls == 3
    await ev.aclose()
    small = OnlineEvaluator(cfg.model_copy(update={"max_queue": 1}), _Judge(), _Store())
    small.submit(_record(1))
    small.submit(_record(2))
    assert small.stats.dropped_queue_full == 1
    await small.aclose()
    assert small.stats.dropped_at_close == 1


async def test_live_traffic_is_scored_beside_feedback(
    tmp_path: Path, judges: Any, upstream: Any
) -> None:
    """Live requests are judged in the background; /admin/evals/online reports the scores."""
    settings = eval_settings(
        tmp_path,
        judges,
        upstream,
        evaluation={
            "online": {
                "enabled": True,
                "judge": "judge-oracle",
                "aliases": {"echo": 1.0},
                "rate_per_minute": 6000,
            }
        },
    )
    app = create_app(settings)
    async with LifespanManager(startup_timeout=120, shutdown_timeout=120, app=app) as manager:  # type: ignore[arg-type]
        transport = httpx.ASGITransport(app=manager.app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
            for i, text in enumerate(["good one", "a WRONG one", "good two", "good three"]):
                r = await http.post(
                    "/v1/chat/completions",
                    json={
                        "model": "echo",
                        "messages": [{"role": "user", "content": f"{text} {i}"}],
                    },
                )
                assert r.status_code == 200
            r = await http.post(
                "/v1/chat/completions",
                json={"model": "mock", "messages": [{"role": "user", "content": "not sampled"}]},
            )
            assert r.status_code == 200
            data: dict[str, Any] = {}
            for _ in range(500):  # bounded wait for the background judge
                data = (await http.get("/admin/evals/online")).json()
                if data["data"] and data["data"][0]["count"] == 4:
                    break
                await asyncio.sleep(0.01)
            fb = (await http.get("/admin/feedback")).json()["data"]
    # With the prompt registry's feedback.judge_score column, every score is also a
    # feedback row (what experiments and rollouts read); without it, none is.
    assert len(fb) == (1 if "judge_score" in feedback.c else 0)
    [row] = data["data"]
    assert row["model"] == "echo" and row["count"] == 4
    assert row["mean_score"] == 0.75 and row["pass_rate"] == 0.75
    assert row["ci_low"] < 0.75 < row["ci_high"]
    assert data["sampler"]["sampled"] == 4 and data["sampler"]["errors"] == 0


async def test_scores_command_reads_the_summary(tmp_path: Path) -> None:
    """`lockgate eval scores --json` prints the per-variant summary from the database."""
    import json

    import yaml
    from typer.testing import CliRunner

    from lockgate.cli import app
    from lockgate.evals.online_repository import OnlineScoreRepository
    from lockgate.storage.database import Database

    url = f"sqlite+aiosqlite:///{tmp_path}/s.db"
    db = Database(url)
    await db.migrate()
    repo = OnlineScoreRepository(db)
    for i, score in enumerate([1.0, 0.5, 0.0]):
        await repo.add(
            OnlineScore(
                f"r{i}",
                0.0,
                "2026-11-28",
                "bot",
                "p@2",
                "j",
                "default",
                score,
                score >= 0.7,
                "why",
                0.001,
            )
        )
    await db.aclose()
    config = tmp_path / "c.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "model_list": [{"model_name": "bot", "params": {"model": "mock/m"}}],
                "general_settings": {"database_url": url},
            }
        )
    )
    result = await asyncio.to_thread(
        CliRunner().invoke, app, ["eval", "scores", "-c", str(config), "--json"]
    )
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.output)
    assert row["prompt_version"] == "p@2" and row["count"] == 3 and row["mean_score"] == 0.5
    assert row["pass_rate"] == pytest.approx(1 / 3)
