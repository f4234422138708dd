"""The semantic cache through the gateway, with the real local embedder."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
from tests.e2e.conftest import model_list
from tests.support import bearer

PATH = "/v1/chat/completions"


def ask(gw, text, model="gpt-4o-mini"):
    body = {
        "model": model,
        "temperature": 0,
        "messages": [{"role": "user", "content": text}],
    }
    return httpx.post(gw.v1 + "/chat/completions", json=body, headers=bearer(), timeout=60)


def test_paraphrase_is_a_semantic_hit_and_near_miss_is_not(gateway_factory, fake):
    """A paraphrase is served from the semantic cache; a different number is not."""
    gw = gateway_factory(model_list(fake), semantic_cache={"aliases": {"gpt-4o-mini": {}}})
    first = ask(gw, "What is the capital city of France?")
    assert first.headers["x-lockgate-cache"] == "miss"
    para = ask(gw, "What is the capital of France?")
    assert para.headers["x-lockgate-cache"].startswith("semantic-hit; score=0.9")
    assert para.json()["choices"] == first.json()["choices"]
    assert len(fake.requests_to(PATH)) == 1
    ask(gw, "How many days are in 3 weeks?")
    near = ask(gw, "How many days are in 4 weeks?")
    assert near.headers["x-lockgate-cache"] == "miss"
    assert near.json()["choices"][0]["message"]["content"] == "echo: How many days are in 4 weeks?"
    assert len(fake.requests_to(PATH)) == 3


def test_each_alias_keeps_its_own_error_budget(gateway_factory, fake):
    """max_false_hit_rate per alias: a rewording (cosine 0.88) clears the bar of a 5% budget
    and not the stricter one of the 1% default; each alias's partition holds its own answer."""
    gw = gateway_factory(
        model_list(fake),
        cache={"mode": "off"},
        semantic_cache={
            "aliases": {"gpt-4o-mini": {"max_false_hit_rate": 0.05}, "claude-haiku": {}}
        },
    )
    cached, reworded = (
        "How do I cancel my subscription?",
        "Steps for cancelling a subscription?",
    )
    for model in ("gpt-4o-mini", "claude-haiku"):
        assert ask(gw, cached, model).headers["x-lockgate-cache"] == "bypass"  # stored
    loose = ask(gw, reworded, "gpt-4o-mini")
    assert loose.headers["x-lockgate-cache"].startswith("semantic-hit; score=0.8")
    assert loose.json()["choices"][0]["message"]["content"] == f"echo: {cached}"
    strict = ask(gw, reworded, "claude-haiku")
    assert strict.headers["x-lockgate-cache"] == "bypass"  # exact cache off, no semantic hit
    assert reworded in json.dumps(strict.json())


def test_shadow_mode_never_serves(gateway_factory, fake):
    """Shadow mode: a would-be hit goes upstream anyway."""
    gw = gateway_factory(
        model_list(fake), semantic_cache={"aliases": {"gpt-4o-mini": {"shadow": True}}}
    )
    ask(gw, "What is the capital city of France?")
    r = ask(gw, "What is the capital of France?")  # a hit without shadow mode (above)
    assert r.headers["x-lockgate-cache"] == "miss"
    assert len(fake.requests_to(PATH)) == 2


def test_alias_not_opted_in_is_untouched(gateway_factory, fake):
    """Aliases without a semantic_cache entry never get semantic hits."""
    gw = gateway_factory(model_list(fake), semantic_cache={"aliases": {"claude-haiku": {}}})
    ask(gw, "What is the capital city of France?")
    assert ask(gw, "What is the capital of France?").headers["x-lockgate-cache"] == "miss"


def test_cache_eval_cli(tmp_path):
    """`lockgate cache eval` reports precision, hit rate and false-hit rate at the settings."""
    pairs = tmp_path / "pairs.jsonl"
    rows = [
        {
            "q1": "What is the capital city of France?",
            "q2": "What is the capital of France?",
            "label": 1,
        },
        {"q1": "How do I enable dark mode?", "q2": "How do I disable dark mode?", "label": 0},
        {"q1": "What is 2+2?", "q2": "What is 2+3?", "label": 0, "source": "maths"},
    ]
    pairs.write_text("\n".join(json.dumps(r) for r in rows))
    r = subprocess.run(
        [sys.executable, "-m", "lockgate", "cache", "eval", str(pairs), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["precision"] == 1.0
    assert report["hit_rate"] == 1.0
    assert report["false_hit_rate"] == 0.0
    assert report["mode"] == "verifier"
    assert set(report["by_source"]) == {"all", "maths"}
    assert report["by_source"]["maths"]["negatives"] == 1
    assert report["overall"]["hit_rate_ci"][1] == 1.0  # 1 of 1: the interval reaches 1
    assert [p["label"] for p in report["operating_points"]][:2] == ["0.0025", "0.005"]


def test_gateway_embeddings_model_as_embedder(gateway_factory, fake):
    """embedder: gateway uses one of the gateway's own embeddings aliases."""
    gw = gateway_factory(
        model_list(fake),
        cache={"mode": "off"},
        semantic_cache={
            "embedder": "gateway",
            "embedding_model": "gpt-4o-mini",
            "embedding_dim": 8,
            "aliases": {"gpt-4o-mini": {}},
        },
    )
    assert ask(gw, "What is the capital city of France?").headers["x-lockgate-cache"] == "bypass"
    again = ask(gw, "What is the capital city of France?")
    assert again.headers["x-lockgate-cache"] == "semantic-hit; score=1.00"
    assert len(fake.requests_to("/v1/embeddings")) == 2
    assert len(fake.requests_to(PATH)) == 1


def test_cache_eval_cli_with_the_gateway_embedder(tmp_path, fake):
    """With `embedder: gateway`, `cache eval` embeds the pairs through the configured
    embeddings alias (the fake's vectors), not the local model."""
    from tests.opex.support import cli
    from tests.support import MASTER

    config = {
        "model_list": model_list(fake),
        "general_settings": {
            "master_key": MASTER,
            "database_url": f"sqlite+aiosqlite:///{tmp_path}/gw.db",
        },
        "semantic_cache": {
            "embedder": "gateway",
            "embedding_model": "gpt-4o-mini",
            "embedding_dim": 8,
            "threshold": 0.999,
            "guards": [],
            "aliases": {"gpt-4o-mini": {}},
        },
    }
    (tmp_path / "lockgate.yaml").write_text(json.dumps(config))  # JSON is YAML
    pairs = tmp_path / "pairs.jsonl"
    rows = [
        {
            "q1": "What is the capital of France?",
            "q2": "What is the capital of France?",
            "label": 1,
        },
        {"q1": "How do I enable dark mode?", "q2": "Who wrote Hamlet?", "label": 0},
    ]
    pairs.write_text("\n".join(json.dumps(r) for r in rows))
    r = cli(
        "cache", "eval", str(pairs), "--config", str(tmp_path / "lockgate.yaml"),
        "--no-progress", "--json", cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["mode"] == "threshold"  # the gateway's vectors carry no token vectors
    assert report["hit_rate"] == 1.0 and report["false_hit_rate"] == 0.0
    embedded = [req.body["input"] for req in fake.requests_to("/v1/embeddings")]
    texts = {t for batch in embedded for t in batch}
    assert {r["q1"] for r in rows} | {r["q2"] for r in rows} <= texts
