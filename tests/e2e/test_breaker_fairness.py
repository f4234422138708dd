"""One caller cannot open a deployment's breaker for every tenant.

A self-hosted OpenAI-compatible server (vLLM, Ollama) answers some malformed-but-accepted
requests with a 500.  The upstream here is a real HTTP server on 127.0.0.1 that answers
500 to any request whose body carries a marker (one tenant's poisoned requests), or to
every request while it is "down".  Clients are the official ``openai`` SDK with two
virtual keys; no retries, so each request is one upstream attempt.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import openai
import pytest
from tests.support import MASTER, bearer

POISON = "POISON-7f3a"
SLOW = "SLOW-9c1e"  # answered after 3 s (a very long max_tokens on a busy server)
ROUTER = {
    "num_retries": 0,
    "breaker": {"consecutive_failures": 5, "open_seconds": 60, "half_open_probes": 1},
}


class SelectiveUpstream:
    """An OpenAI chat-completions server that fails poisoned bodies (or everything)."""

    def __init__(self) -> None:
        self.down = False
        self.seen: list[bool] = []  # per request: poisoned?
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                # a second, sturdier server model takes anything (a fallback target)
                poisoned = POISON.encode() in body and b'"model":"sturdy"' not in body
                if SLOW.encode() in body:
                    time.sleep(3.0)
                with outer._lock:
                    outer.seen.append(poisoned)
                if poisoned or outer.down:
                    status, payload = (
                        500,
                        {"error": {"message": "internal server error", "type": "server_error"}},
                    )
                else:
                    model = json.loads(body).get("model", "m")
                    status, payload = (
                        200,
                        {
                            "id": "chatcmpl-1",
                            "object": "chat.completion",
                            "created": int(time.time()),
                            "model": model,
                            "choices": [
                                {
                                    "index": 0,
                                    "message": {"role": "assistant", "content": "fine"},
                                    "finish_reason": "stop",
                                }
                            ],
                            "usage": {
                                "prompt_tokens": 3,
                                "completion_tokens": 1,
                                "total_tokens": 4,
                            },
                        },
                    )
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the gateway gave up on a slow answer and hung up

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def poisoned_seen(self) -> int:
        with self._lock:
            return sum(self.seen)


@pytest.fixture()
def upstream() -> Iterator[SelectiveUpstream]:
    up = SelectiveUpstream()
    thread = threading.Thread(target=up.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield up
    finally:
        up.server.shutdown()
        up.server.server_close()
        thread.join(timeout=30)


def start(gateway_factory, upstream: SelectiveUpstream, timeout: float = 30.0, **breaker: Any):
    models = [
        {
            "model_name": "gpt-4o-mini",
            "params": {
                "model": "openai/gpt-4o-mini",
                "api_base": upstream.url,
                "api_key": "sk-upstream-selfhosted",
                "timeout": timeout,
            },
        }
    ]
    router = {**ROUTER, "breaker": {**ROUTER["breaker"], **breaker}}
    return gateway_factory(models, router_settings=router)


def new_key(gw, name: str, **fields: Any) -> tuple[str, str]:
    r = httpx.post(
        gw.url + "/admin/keys", json={"name": name, **fields}, headers=bearer(), timeout=30
    )
    assert r.status_code == 201, r.text
    return r.json()["key"], r.json()["id"]


def client(gw, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.v1, api_key=key, max_retries=0, timeout=30)


def ask(c: openai.OpenAI, text: str) -> int:
    """The status the SDK saw for one chat request (200, or the error's status)."""
    try:
        c.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": text}])
    except openai.APIStatusError as err:
        return err.status_code
    return 200


def stats(gw) -> dict[str, Any]:
    return httpx.get(gw.url + "/api/stats", headers=bearer(), timeout=30).json()["routing"][
        "breakers"
    ]["gpt-4o-mini#0"]


def test_one_tenant_making_the_upstream_fail_is_cut_off_alone(gateway_factory, upstream):
    gw = start(gateway_factory, upstream)
    good_key, _ = new_key(gw, "good")
    bad_key, bad_id = new_key(gw, "bad")
    good, bad = client(gw, good_key), client(gw, bad_key)

    good_statuses, bad_statuses = [], []
    for i in range(12):
        good_statuses.append(ask(good, f"hello {i}"))
        bad_statuses.append(ask(bad, f"{POISON} {i}"))
    good_statuses += [ask(good, f"after {i}") for i in range(10)]

    assert good_statuses == [200] * 22
    # the hostile key: its five upstream 500s (as 502s), then its own breaker refuses it
    assert bad_statuses[:5] == [502] * 5 and bad_statuses[5:] == [503] * 7
    assert upstream.poisoned_seen() == 5
    with pytest.raises(openai.APIStatusError) as refused:
        bad.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
        )
    assert refused.value.status_code == 503
    assert "available to this caller" in refused.value.message
    assert int(refused.value.response.headers["retry-after"]) >= 1
    assert ask(bad, "a clean request") == 503  # cut off for the deployment, not per body

    snap = stats(gw)
    assert snap["state"] == "closed"
    assert snap["callers"]["callers"][0]["caller"] == bad_id
    assert snap["callers"]["callers"][0]["state"] == "open"
    metrics = httpx.get(gw.url + "/metrics", headers=bearer(), timeout=30).text
    assert (
        f'lockgate_breaker_caller_opened_total{{caller="{bad_id}",deployment="gpt-4o-mini#0"}} 1.0'
        in metrics
    )
    assert 'lockgate_breaker_transitions_total{deployment="gpt-4o-mini#0",to="open"}' not in metrics
    assert 'lockgate_breaker_callers{deployment="gpt-4o-mini#0"} 1.0' in metrics
    for secret in (bad_key, good_key, MASTER):
        assert secret not in metrics and secret not in json.dumps(snap)


def test_a_truly_failing_upstream_still_opens_for_everyone(gateway_factory, upstream):
    gw = start(gateway_factory, upstream)
    a_key, _ = new_key(gw, "a")
    b_key, _ = new_key(gw, "b")
    a, b = client(gw, a_key), client(gw, b_key)
    assert ask(a, "warm") == 200 and ask(b, "warm") == 200
    upstream.down = True
    statuses = []
    for i in range(8):
        statuses += [ask(a, f"a {i}"), ask(b, f"b {i}")]
    # ten upstream failures (five beyond the worst caller's five), then refused for all
    assert statuses[:10] == [502] * 10 and statuses[10:] == [503] * 6
    assert stats(gw)["state"] == "open"
    c_key, _ = new_key(gw, "c")
    with pytest.raises(openai.APIStatusError) as refused:
        client(gw, c_key).chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
        )
    assert refused.value.status_code == 503
    assert "available to this caller" not in refused.value.message
    assert len(upstream.seen) == 12


def test_alone_it_opens_as_before_but_the_next_tenant_gets_through(gateway_factory, upstream):
    """A single-tenant install keeps the plain rule (five failures open the deployment's
    breaker); a second tenant arriving is let through, and its success closes it while
    the first stays cut off."""
    gw = start(gateway_factory, upstream)
    bad_key, bad_id = new_key(gw, "bad")
    good_key, _ = new_key(gw, "good")
    bad, good = client(gw, bad_key), client(gw, good_key)
    assert [ask(bad, f"{POISON} {i}") for i in range(7)] == [502] * 5 + [503] * 2
    snap = stats(gw)
    assert snap["state"] == "open" and snap["opened_by"] == bad_id
    assert [ask(good, f"hi {i}") for i in range(5)] == [200] * 5
    assert stats(gw)["state"] == "closed"
    assert ask(bad, "clean now") == 503
    assert upstream.poisoned_seen() == 5


def test_team_scope_counts_a_teams_keys_as_one_caller(gateway_factory, upstream):
    """With caller_scope: team, a tenant rotating keys is still one caller."""
    gw = start(gateway_factory, upstream, caller_scope="team")
    good_key, _ = new_key(gw, "good", team="blue")
    bad_keys = [new_key(gw, f"bad{i}", team="red")[0] for i in range(4)]
    statuses = []
    for i in range(12):
        assert ask(client(gw, good_key), f"hi {i}") == 200
        statuses.append(ask(client(gw, bad_keys[i % 4]), f"{POISON} {i}"))
    assert statuses == [502] * 5 + [503] * 7
    assert stats(gw)["state"] == "closed"
    assert stats(gw)["callers"]["callers"][0]["caller"] == "team:red"


def test_a_tenant_whose_requests_time_out_is_cut_off_alone(gateway_factory, upstream):
    """Upstream timeouts (one tenant's very long generations) count like 5xx: against
    that tenant only."""
    gw = start(gateway_factory, upstream, timeout=1.0)
    good_key, _ = new_key(gw, "good")
    slow_key, slow_id = new_key(gw, "slow")
    good, slow = client(gw, good_key), client(gw, slow_key)
    statuses = []
    for i in range(7):
        assert ask(good, f"hi {i}") == 200
        statuses.append(ask(slow, f"{SLOW} {i}"))
    assert statuses == [504] * 5 + [503] * 2
    assert [ask(good, f"after {i}") for i in range(5)] == [200] * 5
    snap = stats(gw)
    assert snap["state"] == "closed" and snap["callers"]["callers"][0]["caller"] == slow_id


def test_a_cut_off_tenant_goes_to_its_fallbacks(gateway_factory, upstream):
    """With a fallback alias, the poisoning tenant is served there; once its own breaker
    is open its requests skip the primary without touching it."""
    models = [
        {
            "model_name": name,
            "params": {
                "model": f"openai/{upstream_model}",
                "api_base": upstream.url,
                "api_key": "sk-upstream-selfhosted",
            },
        }
        for name, upstream_model in (("gpt-4o-mini", "gpt-4o-mini"), ("backup", "sturdy"))
    ]
    gw = gateway_factory(
        models, router_settings={**ROUTER, "fallbacks": [{"gpt-4o-mini": ["backup"]}]}
    )
    good_key, _ = new_key(gw, "good")
    bad_key, _ = new_key(gw, "bad")
    good, bad = client(gw, good_key), client(gw, bad_key)
    for i in range(10):
        assert ask(good, f"hi {i}") == 200
        assert ask(bad, f"{POISON} {i}") == 200
    assert upstream.poisoned_seen() == 5  # the primary saw five, then only the fallback
    assert stats(gw)["state"] == "closed"
