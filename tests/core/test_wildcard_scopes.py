"""Wildcard aliases in key scopes, and metric labels that stay bounded under wildcards."""

from __future__ import annotations

from typing import Any

from tests.support import MASTER, bearer

from lockgate.auth.keys import Principal
from lockgate.model_patterns import match, matches_any

USER = {"role": "user", "content": "hi"}


def wildcard_models() -> list[dict[str, Any]]:
    return [
        {"model_name": "mock/*", "params": {"model": "mock/*"}},
        {"model_name": "plain", "params": {"model": "mock/mock-1"}},
    ]


def test_pattern_match_needs_a_nonempty_star() -> None:
    """The star matches one character or more, and the head and tail must fit."""
    assert match("openai/*", "openai/gpt-4o") == "gpt-4o"
    assert match("openai/*", "openai/") is None
    assert match("openai/gpt-*-mini", "openai/gpt-4o-mini") == "4o"
    assert match("openai/gpt-*-mini", "openai/gpt-4o") is None
    assert match("openai/gpt-4o", "openai/gpt-4o") is None  # no star: not a pattern
    assert matches_any(["plain", "openai/*"], "openai/o3")
    assert matches_any(["plain"], "plain")
    assert not matches_any(["plain", "openai/*"], "anthropic/claude")


def test_principal_scope_with_patterns() -> None:
    """A key holding openai/* may use any openai/ name, and nothing else."""
    p = Principal(kind="key", allowed_models=frozenset({"openai/*", "claude-haiku"}))
    assert p.allows_model("openai/gpt-4o")
    assert p.allows_model("claude-haiku")
    assert not p.allows_model("anthropic/claude-sonnet-4-5")
    assert not p.allows_model("openai/")
    assert Principal(kind="key").allows_model("anything")


async def _key(client: Any, models: list[str]) -> str:
    r = await client.post("/admin/keys", json={"name": "k", "models": models}, headers=bearer())
    assert r.status_code == 201, r.text
    key: str = r.json()["key"]
    return key


async def _chat(client: Any, key: str, model: str) -> Any:
    return await client.post(
        "/v1/chat/completions", json={"model": model, "messages": [USER]}, headers=bearer(key)
    )


async def test_key_scoped_to_a_pattern_admits_its_matches(make_settings, client_for) -> None:
    """models: ["mock/*"] admits mock/anything through the wildcard alias, refuses plain."""
    client = await client_for(make_settings(models=wildcard_models()))
    key = await _key(client, ["mock/*"])
    ok = await _chat(client, key, "mock/mock-7")
    assert ok.status_code == 200, ok.text
    assert ok.headers["x-lockgate-model"] == "mock-7"
    refused = await _chat(client, key, "plain")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "model_not_allowed"
    retrieved = await client.get("/v1/models/mock/mock-9", headers=bearer(key))
    assert retrieved.status_code == 200 and retrieved.json()["id"] == "mock/mock-9"


async def test_pattern_scope_filters_the_model_list(make_settings, client_for) -> None:
    """/v1/models shows a pattern-scoped key the plain aliases its pattern matches."""
    models = [
        {"model_name": "mock/small", "params": {"model": "mock/mock-1"}},
        {"model_name": "other", "params": {"model": "mock/mock-2"}},
    ]
    client = await client_for(make_settings(models=models))
    key = await _key(client, ["mock/*"])
    listed = (await client.get("/v1/models", headers=bearer(key))).json()["data"]
    assert [m["id"] for m in listed] == ["mock/small"]


async def test_wildcard_requests_are_labelled_by_their_pattern(make_settings, client_for) -> None:
    """Fifty made-up model names under mock/* make one metric series, not fifty."""
    client = await client_for(make_settings(models=wildcard_models()))
    for i in range(50):
        r = await _chat(client, MASTER, f"mock/made-up-{i}")
        assert r.status_code == 200, r.text
    assert (await _chat(client, MASTER, "plain")).status_code == 200
    page = (await client.get("/metrics", headers=bearer())).text
    lines = [
        line
        for line in page.splitlines()
        if line.startswith("lockgate_requests_total{") or line.startswith("gen_ai_")
    ]
    assert not any("made-up" in line for line in lines)
    requests = [line for line in page.splitlines() if line.startswith("lockgate_requests_total{")]
    assert len(requests) == 2, requests
    pattern = [line for line in requests if 'gen_ai_request_model="mock/*"' in line]
    assert len(pattern) == 1 and pattern[0].endswith(" 50.0")
    stats = (await client.get("/api/stats", headers=bearer())).json()
    assert "mock/*" in stats["models"] and not any("made-up" in m for m in stats["models"])


async def test_model_limits_on_a_pattern_apply_to_its_matches(tmp_path, client_for) -> None:
    """limits.models keyed by the pattern counts every name it matches together."""
    from lockgate.settings import settings_from_mapping

    data = {
        "model_list": wildcard_models(),
        "general_settings": {
            "database_url": f"sqlite+aiosqlite:///{tmp_path}/lockgate.db",
            "master_key": MASTER,
        },
        "limits": {"models": {"mock/*": {"requests": "2/minute"}}},
    }
    client = await client_for(settings_from_mapping(data, env={}))
    codes = [(await _chat(client, MASTER, f"mock/m{i}")).status_code for i in range(3)]
    assert codes == [200, 200, 429]
    assert (await _chat(client, MASTER, "plain")).status_code == 200
