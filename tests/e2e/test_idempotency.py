"""A client's Idempotency-Key reaches the upstream scoped to its caller, the same on
every attempt of one request (retries and fallbacks), so an upstream that honours the
key runs the request once."""

from __future__ import annotations

import httpx
from tests.e2e.conftest import GatewayFactory, model_list
from tests.fakes import Fault, ThreadedFake
from tests.support import bearer

from lockgate.auth.keys import Principal
from lockgate.context import RequestContext
from lockgate.dispatcher import upstream_idempotency_key

PATH = "/v1/chat/completions"


def test_the_key_is_kept_across_retries_and_scoped_to_the_caller(
    gateway_factory: GatewayFactory, fake: ThreadedFake
) -> None:
    """A 500 then a retry: both upstream requests carry one key, not the client's own."""
    gw = gateway_factory(model_list(fake), router_settings={"num_retries": 2})
    fake.push_fault(Fault.error(500, path=PATH), times=1)
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    r = httpx.post(
        gw.url + PATH, json=body, headers={**bearer(), "Idempotency-Key": "abc"}, timeout=30
    )
    assert r.status_code == 200
    seen = [x.headers.get("idempotency-key") for x in fake.requests_to(PATH)]
    assert len(seen) == 2 and seen[0] == seen[1] and seen[0] not in (None, "abc")
    plain = httpx.post(gw.url + PATH, json=body, headers=bearer(), timeout=30)
    assert plain.status_code == 200
    assert "idempotency-key" not in fake.requests_to(PATH)[-1].headers


def test_two_tenants_with_the_same_key_reach_the_upstream_with_different_keys() -> None:
    """The scope is the caller's key id: equal client keys never collide upstream."""

    def ctx(key_id: str) -> RequestContext:
        return RequestContext("r", Principal(kind="key", key_id=key_id), "openai")

    a = upstream_idempotency_key(ctx("k1"), "same")
    assert a == upstream_idempotency_key(ctx("k1"), "same")
    assert a != upstream_idempotency_key(ctx("k2"), "same")


def test_a_key_reused_for_another_request_does_not_replay_the_first_answer(
    gateway_factory: GatewayFactory, fake: ThreadedFake
) -> None:
    """A client that reuses one key for a plain request and then a streamed one (or another
    body) gets a real answer to each: the upstream key covers the request, so an upstream
    honouring keys (the fake, like Stripe-style APIs) does not replay a JSON answer to a
    stream request (a 502, counted against the deployment for every tenant, before)."""
    gw = gateway_factory(model_list(fake), router_settings={"num_retries": 0})
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    headers = {**bearer(), "Idempotency-Key": "reused"}
    with httpx.Client(base_url=gw.url, headers=headers, timeout=30) as client:
        first = client.post(PATH, json=body)
        again = client.post(PATH, json=body)  # the same request retried: replayed
        streamed = client.post(PATH, json={**body, "stream": True})
        other = client.post(PATH, json={**body, "messages": [{"role": "user", "content": "yo"}]})
    assert first.status_code == again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert streamed.status_code == 200, streamed.text
    assert streamed.headers["content-type"].startswith("text/event-stream")
    assert "data: [DONE]" in streamed.text
    assert other.status_code == 200 and other.json()["id"] != first.json()["id"]
    keys = [x.headers.get("idempotency-key") for x in fake.requests_to(PATH)]
    assert len(keys) == 4 and keys[0] == keys[1] and len({keys[0], keys[2], keys[3]}) == 3
