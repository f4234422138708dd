"""Routing aliases through the whole gateway (in-process app, mock provider): the
decision is made, shown, counted and recorded; bad configs are refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from asgi_lifespan import LifespanManager
from tests.support import MASTER, bearer

from lockgate.app import create_app
from lockgate.auth.keys import Principal
from lockgate.cache.semantic.memo import MemoEmbedder
from lockgate.chat import ChatRequest, ChatResponse
from lockgate.context import RequestContext
from lockgate.pipeline import Result
from lockgate.routing.config import RouteSpec
from lockgate.routing.factory import shared_embedder
from lockgate.routing.model import RouterModel
from lockgate.routing.stage import RouteStage
from lockgate.settings import ConfigError, settings_from_mapping

PROMPTS = [
    "Hi!",
    "What is the capital of France?",
    "Prove that there are infinitely many primes congruent to 3 mod 4.",
    "A train leaves at 3:15 pm travelling 62 km/h; a second leaves at 4:05 pm at 81 km/h."
    " When does it catch up?",
    "Translate 'good morning' into Spanish.",
    "Find the eigenvalues of [[2, 1], [1, 3]] and explain each step.",
    "Write a haiku about autumn.",
    "Which of these is a noble gas?\nA. Oxygen\nB. Argon\nC. Nitrogen\nD. Carbon\nAnswer:",
]


def config(tmp_path: Path, route: dict[str, Any]) -> dict[str, Any]:
    return {
        "model_list": [
            {"model_name": "big", "params": {"model": "mock/big-1"}},
            {"model_name": "small", "params": {"model": "mock/small-1"}},
        ],
        "general_settings": {
            "master_key": MASTER,
            "database_url": f"sqlite+aiosqlite:///{tmp_path}/gw.db",
        },
        "routing": {"aliases": {"smart": {"strong": "big", "weak": "small", **route}}},
    }


@pytest.fixture()
async def gateway(
    tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[httpx.AsyncClient]:
    settings = settings_from_mapping(config(tmp_path, request.param), env={})
    # Loading the local MiniLM can take seconds on a busy machine: allow for it.
    async with (
        LifespanManager(create_app(settings), startup_timeout=120, shutdown_timeout=120) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(manager.app), base_url="http://gw", headers=bearer()
        ) as client,
    ):
        yield client


async def ask(client: httpx.AsyncClient, text: str) -> httpx.Response:
    res = await client.post(
        "/v1/chat/completions",
        json={"model": "smart", "messages": [{"role": "user", "content": text}]},
    )
    assert res.status_code == 200, res.text
    return res


@pytest.mark.parametrize("gateway", [{"threshold": -1e9}], indirect=True)
async def test_everything_above_a_low_threshold_goes_strong(gateway: httpx.AsyncClient) -> None:
    """Threshold far below every score: each answer comes from the strong alias, and the
    header names the choice, the target, the score and the threshold."""
    for text in PROMPTS[:3]:
        res = await ask(gateway, text)
        assert res.headers["x-lockgate-model"] == "big-1"
        route = res.headers["x-lockgate-route"]
        assert route.startswith("strong; target=big; score=") and "threshold=-1000000000" in route


@pytest.mark.parametrize("gateway", [{"threshold": 1e9}], indirect=True)
async def test_everything_below_a_high_threshold_goes_weak(gateway: httpx.AsyncClient) -> None:
    """Threshold above every score: the weak alias answers; /v1/models lists the routing
    alias; the decision is counted in /metrics."""
    for text in PROMPTS[:3]:
        res = await ask(gateway, text)
        assert res.headers["x-lockgate-model"] == "small-1"
        assert res.headers["x-lockgate-route"].startswith("weak; target=small;")
    models = (await gateway.get("/v1/models")).json()
    assert "smart" in {m["id"] for m in models["data"]}
    metrics = (await gateway.get("/metrics")).text
    assert 'lockgate_route_decisions_total{alias="smart",choice="weak"} 3.0' in metrics
    assert 'lockgate_route_strong_share{alias="smart"} 0.0' in metrics


@pytest.mark.parametrize("gateway", [{"target_strong_share": 0.5, "window": 50}], indirect=True)
async def test_target_share_splits_real_scores(gateway: httpx.AsyncClient) -> None:
    """With a 50% target over varied prompts the routing alias uses both targets once its
    window has filled (the first 50 requests use the shipped prior, fitted to benchmark
    questions that score higher than these), and the scores it reports differ between
    prompts (the model really scores them)."""
    seen: dict[str, int] = {}
    scores = set()
    for i in range(12):
        for text in PROMPTS:
            res = await ask(gateway, text)
            scores.add(res.headers["x-lockgate-route"].split("score=")[1].split(";")[0])
            if i >= 7:  # after the 50-request warm-up
                model = res.headers["x-lockgate-model"]
                seen[model] = seen.get(model, 0) + 1
    assert seen.keys() == {"big-1", "small-1"}
    assert len(scores) == len(PROMPTS)
    assert 10 <= seen["big-1"] <= 30
    # every answer's usage row records the decision: the report by route counts the
    # strong share over all 96 requests, and the rows keep the score and threshold
    report = (await gateway.get("/admin/usage", params={"group_by": "model,route"})).json()
    by_route = {r["group"]["route"]: r["requests"] for r in report["rows"]}
    assert set(by_route) == {"strong", "weak"} and sum(by_route.values()) == 96
    assert all(r["group"]["model"] == "smart" for r in report["rows"])


def test_config_refuses_unknown_targets_and_clashes(tmp_path: Path) -> None:
    """A routing alias naming an unknown alias, or shadowing a model_name, is refused."""
    from lockgate.routing.config import RoutingSettings
    from lockgate.routing.factory import check_routes

    bad = RoutingSettings.model_validate(
        {"aliases": {"smart": {"strong": "nope", "weak": "small"}}}
    )
    with pytest.raises(
        ConfigError, match=r"routing.aliases.smart.strong: unknown model_name 'nope'"
    ):
        check_routes(bad, ["big", "small"])
    clash = RoutingSettings.model_validate({"aliases": {"big": {"strong": "big", "weak": "small"}}})
    with pytest.raises(ConfigError, match="already a model_name"):
        check_routes(clash, ["big", "small"])
    with pytest.raises(ConfigError, match="give one of"):
        settings_from_mapping(
            config(tmp_path, {"threshold": 0.1, "target_strong_share": 0.3}), env={}
        )


async def test_a_scoring_failure_goes_strong_and_never_fails_the_request() -> None:
    """An embedder that raises: the request is still answered, by the strong alias, and
    the failure is in the header and the notes."""

    async def broken(texts: list[str]) -> np.ndarray:
        raise RuntimeError("embedder down")

    seen: list[str] = []

    async def upstream(ctx: RequestContext, request: ChatRequest) -> Result:
        seen.append(request.model)
        return ChatResponse(body={"choices": []})

    stage = RouteStage({"smart": RouteSpec(strong="big", weak="small")}, RouterModel.load(), broken)
    ctx = RequestContext(request_id="r1", principal=Principal(kind="master"), api="openai")
    req = ChatRequest(
        model="smart", body={"model": "smart", "messages": [{"role": "user", "content": "x"}]}
    )
    result = await stage(ctx, req, upstream)
    assert isinstance(result, ChatResponse)
    assert seen == ["big"]
    assert ctx.headers["x-lockgate-route"] == "strong; target=big; error=scoring-failed"
    assert ctx.notes["route"]["error"] is True


async def test_router_and_semantic_cache_share_one_embedding(tmp_path: Path) -> None:
    """With a semantic cache on both targets, the router and the cache use one local
    embedder: each new question is embedded once (the router's vector serves the cache's
    lookup and store), and a repeated question is a semantic hit through the route."""
    data = config(tmp_path, {"threshold": 1e9})  # everything to the weak alias
    # the float model: an int8 cache (the default) keeps its own embedder, since the
    # router's thresholds were fitted on float vectors
    data["semantic_cache"] = {
        "backend": "onnx",
        "model": "all-MiniLM-L6-v2",  # the router's encoder
        "aliases": {"small": {}, "big": {}},
    }
    settings = settings_from_mapping(data, env={})
    assert await shared_embedder(settings.routing, settings.semantic_cache) is not None
    int8 = settings.semantic_cache.model_copy(update={"backend": "onnx-int8"})
    assert await shared_embedder(settings.routing, int8) is None
    l3 = settings.semantic_cache.model_copy(update={"model": "paraphrase-MiniLM-L3-v2"})
    assert await shared_embedder(settings.routing, l3) is None
    async with (
        LifespanManager(create_app(settings), startup_timeout=120, shutdown_timeout=120) as m,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(m.app), base_url="http://gw", headers=bearer()
        ) as client,
    ):
        services = m._state["services"]
        route = next(s for s in services.pipeline.stages if isinstance(s, RouteStage))
        memo = route.embedder
        assert isinstance(memo, MemoEmbedder)
        first = await ask(client, "What is the capital of France?")
        assert first.headers["x-lockgate-route"].startswith("weak; target=small;")
        assert memo.computed == 1 and memo.reused >= 1
        again = await ask(client, "What is the capital of France?")
        assert again.headers["x-lockgate-cache"].startswith("semantic-hit")
        assert memo.computed == 1


async def test_a_repeated_prompt_is_scored_without_embedding_it_again() -> None:
    """The stage keeps the scores of prompts it scored: the same prompt again is decided
    the same way without calling the embedder; another prompt is embedded; the memo's
    size is reported for /metrics."""
    rng = np.random.default_rng(3)
    vectors = {text: rng.standard_normal(384).astype(np.float32) for text in PROMPTS}
    calls: list[str] = []

    async def embed(texts: list[str]) -> np.ndarray:
        calls.extend(texts)
        return np.stack([vectors[t] for t in texts])

    async def upstream(ctx: RequestContext, request: ChatRequest) -> Result:
        return ChatResponse(body={"choices": [], "model": request.model})

    stage = RouteStage(
        {"smart": RouteSpec(strong="big", weak="small", threshold=0.5)}, RouterModel.load(), embed
    )

    async def route(text: str) -> str:
        ctx = RequestContext(request_id="r", principal=Principal(kind="master"), api="openai")
        body = {"model": "smart", "messages": [{"role": "user", "content": text}]}
        await stage(ctx, ChatRequest(model="smart", body=body), upstream)
        return str(ctx.headers["x-lockgate-route"])

    first = await route(PROMPTS[1])
    assert calls == [PROMPTS[1]]
    assert await route(PROMPTS[1]) == first
    assert calls == [PROMPTS[1]]
    await route(PROMPTS[2])
    assert calls == [PROMPTS[1], PROMPTS[2]]
    [(name, entries, nbytes)] = stage.memory_sizes()
    assert (name, entries, nbytes) == ("route_scores", 2, len(PROMPTS[1]) + len(PROMPTS[2]))
