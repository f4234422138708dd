"""Embedding micro-batching through a live gateway in front of a fake OpenAI upstream:
concurrent single-input calls share upstream requests, each caller gets its own vector
and its share of the usage, and a failed batch fails only its own callers."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from tests.conftest import free_port
from tests.e2e.conftest import GatewayFactory, model_list
from tests.fakes import Fault, ThreadedFake
from tests.support import bearer

from lockgate.providers.embed_batching import split_usage


def test_split_usage_adds_up_exactly() -> None:
    """Shares follow the weights and always sum to the total."""
    assert split_usage(10, [1, 1, 1]) == [4, 3, 3]
    assert split_usage(7, [0, 0]) == [0, 0]
    parts = split_usage(1001, [5, 17, 3, 90, 1])
    assert sum(parts) == 1001 and parts[3] == max(parts)


async def fire(url: str, texts: list[str]) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=url, headers=bearer(), timeout=30) as c:
        return await asyncio.gather(
            *(c.post("/v1/embeddings", json={"model": "gpt-4o-mini", "input": t}) for t in texts)
        )


def test_concurrent_single_inputs_share_upstream_calls(
    gateway_factory: GatewayFactory, fake: ThreadedFake
) -> None:
    """60 concurrent callers: at most a handful of upstream calls; each answer is the
    vector the upstream gives for that caller's text, at index 0; usage adds up."""
    gw = gateway_factory(model_list(fake), embeddings={"batch_window_ms": 50})
    texts = [f"sentence number {i} " + "x" * (i % 7) for i in range(60)]
    answers = asyncio.run(fire(gw.url, texts))
    assert all(a.status_code == 200 for a in answers)
    upstream = fake.requests_to("/v1/embeddings")
    assert 1 <= len(upstream) <= 6
    assert sorted(t for r in upstream for t in r.body["input"]) == sorted(texts)
    direct = httpx.post(
        fake.openai_base_url + "/embeddings", json={"model": "x", "input": texts}, timeout=30
    ).json()
    for text, answer in zip(texts, answers, strict=True):
        body = answer.json()
        assert body["data"][0]["index"] == 0
        assert body["data"][0]["embedding"] == direct["data"][texts.index(text)]["embedding"]
    assert (
        sum(a.json()["usage"]["prompt_tokens"] for a in answers) == direct["usage"]["prompt_tokens"]
    )


def test_a_failed_batch_fails_only_its_callers(
    gateway_factory: GatewayFactory, fake: ThreadedFake
) -> None:
    """The first upstream call fails: its callers get an error (no retries configured);
    the next batch is fine."""
    gw = gateway_factory(
        model_list(fake),
        embeddings={"batch_window_ms": 50, "adaptive_window": False},
        router_settings={"num_retries": 0},
    )
    fake.push_fault(Fault.error(500), times=1)
    first = asyncio.run(fire(gw.url, [f"a{i}" for i in range(10)]))
    assert {a.status_code for a in first} == {502}
    second = asyncio.run(fire(gw.url, [f"b{i}" for i in range(10)]))
    assert {a.status_code for a in second} == {200}


def wait_counts(metrics: str) -> dict[str, float]:
    name = "lockgate_embedding_batch_wait_seconds_bucket"
    out = {}
    for line in metrics.splitlines():
        if line.startswith(name):
            out[line.split('le="')[1].split('"')[0]] = float(line.rsplit(" ", 1)[1])
    return out


def test_a_lone_caller_is_sent_at_once_and_a_crowd_still_merges(
    gateway_factory: GatewayFactory, fake: ThreadedFake
) -> None:
    """adaptive_window (default): one client calling one after the other never waits
    for the (here 1 s) window: nobody else could join; 40 concurrent callers still
    share a few upstream calls. Every caller's wait is in the wait histogram."""
    gw = gateway_factory(model_list(fake), embeddings={"batch_window_ms": 1000})
    with httpx.Client(base_url=gw.url, headers=bearer(), timeout=30) as c:
        for i in range(5):
            r = c.post("/v1/embeddings", json={"model": "gpt-4o-mini", "input": f"s{i}"})
            assert r.status_code == 200
        counts = wait_counts(c.get("/metrics").text)
    assert counts["0.0005"] == counts["+Inf"] == 5  # sent alone: no wait at all
    assert len(fake.requests_to("/v1/embeddings")) == 5
    fake.reset()
    gw2 = gateway_factory(model_list(fake), embeddings={"batch_window_ms": 50})
    answers = asyncio.run(fire(gw2.url, [f"c{i}" for i in range(40)]))
    assert all(a.status_code == 200 for a in answers)
    assert len(fake.requests_to("/v1/embeddings")) <= 6
    counts = wait_counts(httpx.get(gw2.url + "/metrics", headers=bearer()).text)
    assert counts["+Inf"] == 40


@pytest.mark.parametrize("inputs", [["one", "two"], [[1, 2, 3]]])
def test_list_inputs_and_batching_off_pass_through(
    gateway_factory: GatewayFactory, fake: ThreadedFake, inputs: list[object]
) -> None:
    """A caller sending a list is not merged: one upstream call with its own inputs."""
    gw = gateway_factory(model_list(fake), embeddings={"batching": False})
    r = httpx.post(
        gw.url + "/v1/embeddings", json={"model": "gpt-4o-mini", "input": inputs}, headers=bearer()
    )
    assert r.status_code == 200 and len(r.json()["data"]) == len(inputs)
    assert [x.body["input"] for x in fake.requests_to("/v1/embeddings")] == [inputs]


def test_a_down_embedding_deployment_trips_its_breaker_and_the_fallback_answers(
    gateway_factory: GatewayFactory, fake: ThreadedFake
) -> None:
    """Embeddings go through the dispatcher: a deployment nobody listens on fails, its
    embeddings breaker opens after 3 failures (its chat breaker is its own), every caller
    is answered by the fallback alias, and concurrent callers still share upstream calls
    there."""
    models = [
        {
            "model_name": "emb",
            "params": {
                "model": "openai/text-embedding-3-small",
                "api_base": f"http://127.0.0.1:{free_port()}/v1",
                "api_key": "k",
            },
        },
        {
            "model_name": "emb-backup",
            "params": {
                "model": "openai/text-embedding-3-small",
                "api_base": fake.openai_base_url,
                "api_key": "k",
            },
        },
    ]
    gw = gateway_factory(
        models,
        embeddings={"batch_window_ms": 50, "adaptive_window": False},
        router_settings={
            "num_retries": 0,
            "fallbacks": [{"emb": ["emb-backup"]}],
            "breaker": {"consecutive_failures": 3, "open_seconds": 60, "min_calls": 100},
        },
    )
    with httpx.Client(base_url=gw.url, headers=bearer(), timeout=30) as c:
        for i in range(4):
            r = c.post("/v1/embeddings", json={"model": "emb", "input": f"t{i}"})
            assert r.status_code == 200, r.text
            assert len(r.json()["data"][0]["embedding"]) > 0
        stats = c.get("/api/stats").json()
    assert stats["routing"]["breakers"]["emb#0/embeddings"]["state"] == "open"
    assert stats["routing"]["breakers"]["emb-backup#0/embeddings"]["state"] == "closed"
    assert stats["routing"]["breakers"]["emb#0"]["state"] == "closed"  # chat's own
    assert len(fake.requests_to("/v1/embeddings")) == 4

    async def many() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=gw.url, headers=bearer(), timeout=30) as c:
            return await asyncio.gather(
                *(
                    c.post("/v1/embeddings", json={"model": "emb", "input": f"u{i}"})
                    for i in range(30)
                )
            )

    answers = asyncio.run(many())
    assert {a.status_code for a in answers} == {200}
    later = fake.requests_to("/v1/embeddings")[4:]
    assert 1 <= len(later) <= 4
    assert sorted(t for r in later for t in r.body["input"]) == sorted(f"u{i}" for i in range(30))
