"""/openai/... and /anthropic/... relay the provider's own API, authenticated, limited by
request count, recorded in usage rows and the audit log; official SDKs as clients."""

from __future__ import annotations

import io

import anthropic
import httpx
import openai
import pytest
from tests.e2e.conftest import UPSTREAM_ANTHROPIC_KEY, UPSTREAM_OPENAI_KEY, model_list
from tests.support import MASTER, bearer


@pytest.fixture()
def gw(fake, gateway_factory):
    return gateway_factory(
        model_list(fake),
        router_settings={"num_retries": 0},
        passthrough={
            "openai": {"api_base": fake.url, "api_key": UPSTREAM_OPENAI_KEY},
            "anthropic": {"api_base": fake.url, "api_key": UPSTREAM_ANTHROPIC_KEY},
            "virtual_keys": True,  # these tests hold virtual keys to their limits
        },
        usage={"enabled": True},
    )


def new_key(gw, **fields):
    r = httpx.post(gw.url + "/admin/keys", json={"name": "pt", **fields}, headers=bearer())
    assert r.status_code == 201, r.text
    return r.json()["key"]


def test_openai_sdk_through_the_openai_passthrough(gw, fake):
    """Models list, a file upload and embeddings reach the provider with its own key."""
    with openai.OpenAI(base_url=gw.url + "/openai/v1", api_key=MASTER, max_retries=0) as c:
        assert [m.id for m in c.models.list()] == [
            "gpt-4o-mini",
            "gpt-4o",
            "text-embedding-3-small",
        ]
        uploaded = c.files.create(file=("upload.jsonl", io.BytesIO(b'{"a": 1}\n')), purpose="batch")
        assert uploaded.id == "file-fake1" and uploaded.bytes == 9 and uploaded.purpose == "batch"
        vectors = c.embeddings.create(model="text-embedding-3-small", input="hi")
        assert len(vectors.data[0].embedding) == 8
    sent = fake.requests_to("/v1/files")[-1]
    assert sent.headers["authorization"] == f"Bearer {UPSTREAM_OPENAI_KEY}"
    assert MASTER not in str(sent.headers)


def test_anthropic_sdk_through_the_anthropic_passthrough(gw, fake):
    """The Anthropic API as is: the provider's key, streams relayed byte for byte."""
    with anthropic.Anthropic(base_url=gw.url + "/anthropic", api_key=MASTER, max_retries=0) as c:
        msg = c.messages.create(
            model="claude-3-5-haiku-20241022",
            max_tokens=50,
            messages=[{"role": "user", "content": "raw"}],
        )
        assert msg.content[0].text == "echo: raw"
        with c.messages.stream(
            model="claude-3-5-haiku-20241022",
            max_tokens=50,
            messages=[{"role": "user", "content": "s"}],
        ) as stream:
            assert stream.get_final_message().content[0].text == "echo: s"
    assert fake.requests[-1].headers["x-api-key"] == UPSTREAM_ANTHROPIC_KEY


def test_passthrough_needs_a_key_and_counts_requests(gw, fake):
    """No gateway key: 401, nothing relayed; a key's request limit applies."""
    r = httpx.get(gw.url + "/openai/v1/models")
    assert r.status_code == 401 and fake.requests == []
    key = new_key(gw, limits={"requests": "2/minute"})
    codes = [
        httpx.get(gw.url + "/openai/v1/models", headers=bearer(key)).status_code for _ in range(3)
    ]
    assert codes == [200, 200, 429]
    assert len(fake.requests_to("/v1/models")) == 2


def test_passthrough_is_recorded_with_usage(gw):
    """Each relayed call is a usage row with the path in its notes and reported usage."""
    key = new_key(gw)
    with openai.OpenAI(base_url=gw.url + "/openai/v1", api_key=key, max_retries=0) as c:
        c.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    r = httpx.get(gw.url + "/admin/usage", params={"group_by": "model"}, headers=bearer())
    rows = [g for g in r.json()["rows"] if g["group"] == {"model": "passthrough/openai"}]
    assert rows and rows[0]["requests"] == 1 and rows[0]["completion_tokens"] == 2


def test_unconfigured_provider_and_dotdot_are_refused(fake, gateway_factory):
    """Without a passthrough entry the route is a 404; '..' in a path is a 400."""
    gw = gateway_factory(
        model_list(fake), passthrough={"openai": {"api_base": fake.url, "api_key": "k"}}
    )
    r = httpx.post(gw.url + "/anthropic/v1/messages", json={}, headers=bearer())
    assert r.status_code == 404 and r.json()["type"] == "error"
    r = httpx.get(gw.url + "/openai/v1/../admin", headers=bearer())
    assert r.status_code in (400, 404)
    assert fake.requests == []
