"""Fixtures for evaluation tests: fake judges on loopback and the gateway in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, ExitStack
from pathlib import Path
from typing import Any

import pytest
from tests.fakes import FakeJudge, JudgeKind, ThreadedFake, start_in_thread, start_server_in_thread

from lockgate.evals.client import GatewayClient, in_process_client
from lockgate.settings import Settings, settings_from_mapping

JUDGE_KINDS: tuple[JudgeKind, ...] = (
    "oracle",
    "always_first",
    "random",
    "position_biased",
    "broken",
    "down",
)
GOLD = Path(__file__).resolve().parents[2] / "data" / "dev" / "judge-dev.jsonl"


@pytest.fixture(scope="session")
def gold_rows() -> list[dict[str, Any]]:
    import json

    return [json.loads(line) for line in GOLD.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="session")
def judges(gold_rows: list[dict[str, Any]]) -> Iterator[dict[str, ThreadedFake]]:
    """One fake judge server of every kind for the session."""
    with ExitStack() as stack:
        out = {}
        for kind in JUDGE_KINDS:
            fake = start_server_in_thread(FakeJudge(kind, gold=gold_rows, seed=7))
            out[kind] = stack.enter_context(fake)
        yield out


@pytest.fixture(scope="module")
def upstream() -> Iterator[ThreadedFake]:
    """The OpenAI-wire fake provider (echoes, calls tools on CALL_TOOL)."""
    with start_in_thread() as fake:
        yield fake


def judge_models(judges: dict[str, ThreadedFake]) -> list[dict[str, Any]]:
    return [
        {
            "model_name": f"judge-{kind}",
            "params": {
                "model": "openai/judge",
                "api_base": fake.openai_base_url,
                "api_key": "sk-judge",
                "input_cost_per_million": 1.0,
                "output_cost_per_million": 2.0,
            },
        }
        for kind, fake in judges.items()
    ]


def eval_settings(
    tmp_path: Path,
    judges: dict[str, ThreadedFake],
    upstream: ThreadedFake | None = None,
    master_key: str | None = None,
    **sections: Any,
) -> Settings:
    models: list[dict[str, Any]] = [
        {
            "model_name": "mock",
            "params": {
                "model": "mock/mock-1",
                "input_cost_per_million": 1.0,
                "output_cost_per_million": 2.0,
            },
        },
        *judge_models(judges),
    ]
    if upstream is not None:
        models.append(
            {
                "model_name": "echo",
                "params": {
                    "model": "openai/gpt-4o-mini",
                    "api_base": upstream.openai_base_url,
                    "api_key": "sk-up",
                },
            }
        )
        models.append(
            {
                "model_name": "dead",
                "params": {
                    "model": "openai/gpt-4o-mini",
                    "api_base": judges["down"].openai_base_url,
                    "api_key": "sk-up",
                },
            }
        )
    data = {
        "model_list": models,
        "router_settings": {"num_retries": 0},
        "general_settings": {
            "database_url": f"sqlite+aiosqlite:///{tmp_path}/gw.db",
            **({"master_key": master_key} if master_key else {}),
        },
        **sections,
    }
    return settings_from_mapping(data, env={})


ClientFactory = Callable[..., AbstractAsyncContextManager[GatewayClient]]


@pytest.fixture()
def settings(tmp_path: Path, judges: dict[str, ThreadedFake], upstream: ThreadedFake) -> Settings:
    return eval_settings(tmp_path, judges, upstream)


@pytest.fixture()
async def client(settings: Settings) -> AsyncIterator[GatewayClient]:
    """The gateway in this process, reached through httpx's ASGI transport."""
    async with in_process_client(settings) as c:
        yield c
