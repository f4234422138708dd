"""Resilience under injected faults: real upstreams on loopback misbehaving on command.

Each test starts its own gateway (so breaker and budget state start clean) in front of
the module's fake provider, and checks what the client and the upstream saw.
"""

from __future__ import annotations

import asyncio
import email.utils
import threading
import time

import httpx
import openai
import pytest
from tests.e2e.conftest import model_list
from tests.fakes import Fault
from tests.support import MASTER, bearer

HI = [{"role": "user", "content": "hello"}]
CHAT = {"model": "gpt-4o-mini", "messages": HI}
PATH = "/v1/chat/completions"


def fast_router(**extra):
    """Router settings that retry quickly (tests wait milliseconds, not seconds)."""
    return {"num_retries": 2, "retry_backoff_base": 0.01, "retry_backoff_cap": 0.05, **extra}


def post(gw, body=CHAT, headers=None, timeout=30.0):
    return httpx.post(
        gw.v1 + "/chat/completions",
        json=body,
        headers={**bearer(), **(headers or {})},
        timeout=timeout,
    )


def stream_lines(gw, body, timeout=30.0):
    """The data lines of a streamed response, as the client received them."""
    with httpx.stream(
        "POST",
        gw.v1 + "/chat/completions",
        json={**body, "stream": True},
        headers=bearer(),
        timeout=timeout,
    ) as r:
        assert r.status_code == 200
        return [line[6:] for line in r.iter_lines() if line.startswith("data: ")]


def test_429_retry_after_seconds_is_honoured(fake, gateway_factory):
    """A 429 with Retry-After: 1 is retried after about a second and succeeds."""
    gw = gateway_factory(model_list(fake), router_settings=fast_router())
    fake.push_fault(Fault.error(429, retry_after="1", path=PATH), times=1)
    started = time.monotonic()
    r = post(gw)
    elapsed = time.monotonic() - started
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "echo: hello"
    assert len(fake.requests_to(PATH)) == 2
    assert elapsed >= 0.9
    assert r.headers["x-lockgate-attempts"] == "2"


def test_429_retry_after_http_date_is_honoured(fake, gateway_factory):
    """A 429 whose Retry-After is an HTTP date is waited for, then retried."""
    gw = gateway_factory(model_list(fake), router_settings=fast_router())
    when = email.utils.formatdate(time.time() + 2, usegmt=True)
    fake.push_fault(Fault.error(429, retry_after=when, path=PATH), times=1)
    started = time.monotonic()
    r = post(gw)
    assert r.status_code == 200
    assert time.monotonic() - started >= 0.9
    assert len(fake.requests_to(PATH)) == 2


def test_retry_after_over_cap_is_not_waited(fake, gateway_factory):
    """A Retry-After beyond max_retry_after gives up at once with the upstream's 429."""
    gw = gateway_factory(model_list(fake), router_settings=fast_router(max_retry_after=5))
    fake.push_fault(Fault.error(429, retry_after="3600", path=PATH), times=1)
    started = time.monotonic()
    r = post(gw)
    assert time.monotonic() - started < 5
    assert r.status_code == 429 and r.headers["retry-after"] == "3600"
    assert len(fake.requests_to(PATH)) == 1


def test_503_burst_shorter_than_retries_succeeds(fake, gateway_factory):
    """Two 503s then success: the client sees one 200, the upstream three calls."""
    gw = gateway_factory(model_list(fake), router_settings=fast_router())
    fake.push_fault(Fault.error(503, path=PATH), times=2)
    r = post(gw)
    assert r.status_code == 200
    assert len(fake.requests_to(PATH)) == 3


def test_500_burst_longer_than_retries_fails_with_reason(fake, gateway_factory):
    """More 500s than retries: a 502 naming the upstream status and code, not its text."""
    gw = gateway_factory(model_list(fake), router_settings=fast_router())
    fake.push_fault(
        Fault.error(
            500, body={"error": {"message": "kaboom inside", "type": "server_error"}}, path=PATH
        ),
        times=5,
    )
    r = post(gw)
    assert r.status_code == 502
    err = r.json()["error"]
    assert "kaboom inside" not in err["message"]
    assert "upstream HTTP 500" in err["message"] and "server_error" in err["message"]
    assert r.headers["x-lockgate-error-fault"] == "upstream"
    assert len(fake.requests_to(PATH)) == 3


def test_400_is_never_retried(fake, gateway_factory):
    """An upstream 400 goes back to the client as 400 after a single attempt."""
    gw = gateway_factory(model_list(fake), router_settings=fast_router())
    fake.push_fault(
        Fault.error(
            400,
            body={
                "error": {
                    "message": "bad temperature",
                    "type": "invalid_request_error",
                    "param": "temperature",
                }
            },
            path=PATH,
        ),
        times=1,
    )
    r = post(gw)
    err = r.json()["error"]
    assert r.status_code == 400 and err["param"] == "temperature"
    assert "bad temperature" not in err["message"]
    assert len(fake.requests_to(PATH)) == 1


def test_slow_first_byte_times_out_then_retries(fake, gateway_factory):
    """A first attempt slower than the timeout is abandoned; the retry answers."""
    gw = gateway_factory(model_list(fake, timeout=0.5), router_settings=fast_router())
    fake.push_fault(Fault.slow_headers(3, path=PATH), times=1)
    started = time.monotonic()
    r = post(gw)
    assert r.status_code == 200
    assert time.monotonic() - started < 2.5
    assert len(fake.requests_to(PATH)) == 2


def test_slow_first_byte_without_retries_is_504(fake, gateway_factory):
    """With no retries left a slow upstream is a 504."""
    gw = gateway_factory(model_list(fake, timeout=0.5), router_settings={"num_retries": 0})
    fake.push_fault(Fault.slow_headers(3, path=PATH), times=1)
    r = post(gw)
    assert r.status_code == 504 and r.json()["error"]["type"] == "timeout"


def test_request_deadline_header(fake, gateway_factory):
    """x-lockgate-timeout bounds the whole request, retries included."""
    gw = gateway_factory(model_list(fake), router_settings=fast_router())
    fake.push_fault(Fault.slow_headers(3, path=PATH), times=5)
    started = time.monotonic()
    r = post(gw, headers={"x-lockgate-timeout": "0.7"})
    assert r.status_code == 504
    assert time.monotonic() - started < 2.5


def test_slow_first_chunk_of_stream_retries(fake, gateway_factory):
    """A stream whose first chunk is late is retried before the client sees a byte."""
    gw = gateway_factory(model_list(fake), router_settings=fast_router(first_byte_timeout=0.5))
    fake.push_fault(Fault.slow_first_chunk(3, path=PATH), times=1)
    lines = stream_lines(gw, CHAT)
    assert lines[-1] == "[DONE]"
    assert len(fake.requests_to(PATH)) == 2


def test_stalled_stream_ends_with_error_event(fake, gateway_factory):
    """A stream that goes quiet after content ends with an error event, never [DONE]."""
    gw = gateway_factory(model_list(fake), router_settings=fast_router(stream_idle_timeout=0.5))
    fake.push_fault(Fault.stall(after_chunks=3, seconds=5, path=PATH), times=1)
    with openai.OpenAI(base_url=gw.v1, api_key=MASTER, max_retries=0) as client:
        stream = client.chat.completions.create(model="gpt-4o-mini", messages=HI, stream=True)
        with pytest.raises(openai.APIError, match="stalled"):
            for _ in stream:
                pass
    assert len(fake.requests_to(PATH)) == 1


def test_reset_before_headers_is_retried(fake, gateway_factory):
    """A connection reset before any response is retried."""
    gw = gateway_factory(model_list(fake), router_settings=fast_router())
    fake.push_fault(Fault.reset_before_headers(path=PATH), times=1)
    r = post(gw)
    assert r.status_code == 200
    assert len(fake.requests_to(PATH)) == 2


def test_reset_before_headers_without_retries_is_502(fake, gateway_factory):
    """With no retries, a reset is a 502 naming the connection failure."""
    gw = gateway_factory(model_list(fake), router_settings={"num_retries": 0})
    fake.push_fault(Fault.reset_before_headers(path=PATH), times=1)
    r = post(gw)
    assert r.status_code == 502 and r.json()["error"]["code"] == "upstream_unreachable"


def test_reset_mid_body_is_retried(fake, gateway_factory):
    """A non-streamed body cut by a reset is retried whole."""
    gw = gateway_factory(model_list(fake), router_settings=fast_router())
    fake.push_fault(Fault.reset_mid_body(path=PATH), times=1)
    r = post(gw)
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "echo: hello"
    assert len(fake.requests_to(PATH)) == 2


@pytest.mark.parametrize("fault", [Fault.truncated_json, Fault.malformed_json])
def test_broken_json_is_retried_then_502(fake, gateway_factory, fault):
    """Truncated or malformed JSON is a bad response: retried, then 502 when it persists."""
    gw = gateway_factory(model_list(fake), router_settings=fast_router())
    fake.push_fault(fault(path=PATH), times=1)
    assert post(gw).status_code == 200
    assert len(fake.requests_to(PATH)) == 2
    fake.reset()
    fake.push_fault(fault(path=PATH), times=None)
    r = post(gw)
    assert r.status_code == 502 and r.json()["error"]["code"] == "upstream_bad_response"


@pytest.mark.parametrize("fault", [Fault.drop_mid_stream, Fault.reset_mid_body])
def test_stream_cut_after_content_ends_with_error(fake, gateway_factory, fault):
    """An upstream that drops mid-stream gives the client an error event, not a clean end."""
    gw = gateway_factory(model_list(fake), router_settings=fast_router())
    fake.push_fault(fault(after_chunks=3, path=PATH), times=1)
    lines = stream_lines(gw, CHAT)
    assert lines[-1] != "[DONE]"
    assert '"error"' in lines[-1]
    assert any('"content"' in line for line in lines[:-1])


def test_stream_cut_before_content_is_retried(fake, gateway_factory):
    """A stream dropped before any content was sent is retried transparently."""
    gw = gateway_factory(model_list(fake), router_settings=fast_router())
    fake.push_fault(Fault.drop_mid_stream(after_chunks=1, path=PATH), times=1)
    lines = stream_lines(gw, CHAT)
    assert lines[-1] == "[DONE]"
    assert len(fake.requests_to(PATH)) == 2


def test_client_disconnect_cancels_upstream(fake, gateway_factory):
    """A client leaving mid-stream makes the gateway drop the upstream at once."""
    gw = gateway_factory(model_list(fake), router_settings=fast_router())
    fake.push_fault(Fault.stall(after_chunks=3, seconds=20, path=PATH), times=1)
    with httpx.stream(
        "POST",
        gw.v1 + "/chat/completions",
        json={**CHAT, "stream": True},
        headers=bearer(),
        timeout=10,
    ) as r:
        for line in r.iter_lines():
            if '"content"' in line:
                break
    deadline = time.monotonic() + 5
    while fake.cancelled == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fake.cancelled == 1
    stats = httpx.get(gw.url + "/api/stats", headers=bearer()).json()
    inflight = stats["routing"]["deployments"]["gpt-4o-mini#0"]["inflight"]
    assert inflight == 0


def test_breaker_opens_half_opens_and_closes(fake, gateway_factory):
    """Consecutive failures open the breaker; after the cool-down exactly K probes pass."""
    breaker = {
        "consecutive_failures": 3,
        # long enough that a loaded box still reads the stats while it is open
        "open_seconds": 5.0,
        "half_open_probes": 2,
        "min_calls": 100,
    }
    gw = gateway_factory(model_list(fake), router_settings={"num_retries": 0, "breaker": breaker})
    fake.push_fault(Fault.error(500, path=PATH), times=3)
    assert [post(gw).status_code for _ in range(3)] == [502, 502, 502]
    assert len(fake.requests_to(PATH)) == 3
    # open: refused without touching the upstream
    r = post(gw)
    assert r.status_code == 503 and r.json()["error"]["code"] == "no_available_deployment"
    assert len(fake.requests_to(PATH)) == 3
    stats = httpx.get(gw.url + "/api/stats", headers=bearer()).json()
    assert stats["routing"]["breakers"]["gpt-4o-mini#0"]["state"] == "open"
    time.sleep(5.1)
    # half-open: slow probes so that five concurrent requests overlap them (even when
    # starting the threads takes a while on a loaded box)
    fake.push_fault(Fault.slow_headers(2.0, path=PATH), times=None)
    results: list[int] = []

    def worker() -> None:
        results.append(post(gw).status_code)

    threads = [threading.Thread(target=worker) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert sorted(results) == [200, 200, 503, 503, 503]
    assert len(fake.requests_to(PATH)) == 5  # 3 failures + exactly 2 probes
    fake.clear_faults()
    stats = httpx.get(gw.url + "/api/stats", headers=bearer()).json()
    assert stats["routing"]["breakers"]["gpt-4o-mini#0"]["state"] == "closed"
    assert post(gw).status_code == 200
    metrics = httpx.get(gw.url + "/metrics", headers=bearer()).text
    assert 'lockgate_breaker_transitions_total{deployment="gpt-4o-mini#0",to="open"} 1.0' in metrics


def test_half_open_probe_failure_reopens(fake, gateway_factory):
    """A failed probe sends the breaker straight back to open."""
    breaker = {
        "consecutive_failures": 2,
        # long enough that a loaded box sends the next request while it is open again
        # (0.5 s was not: the request after the failed probe found it half-open)
        "open_seconds": 5.0,
        "half_open_probes": 1,
        "min_calls": 100,
    }
    gw = gateway_factory(model_list(fake), router_settings={"num_retries": 0, "breaker": breaker})
    fake.push_fault(Fault.error(500, path=PATH), times=3)
    assert [post(gw).status_code for _ in range(2)] == [502, 502]
    time.sleep(5.1)
    assert post(gw).status_code == 502  # the probe fails
    assert post(gw).status_code == 503  # open again, upstream untouched
    assert len(fake.requests_to(PATH)) == 3


def test_fallback_to_other_provider_bills_once(fake, gateway_factory):
    """An OpenAI alias that keeps failing falls back to Anthropic; one usage record."""
    gw = gateway_factory(
        model_list(fake),
        router_settings=fast_router(num_retries=1, fallbacks=[{"gpt-4o-mini": ["claude-haiku"]}]),
    )
    fake.push_fault(Fault.error(503, path=PATH), times=None)
    r = post(gw)
    assert r.status_code == 200
    assert r.json()["choices"][0]["message"]["content"] == "echo: hello"
    assert r.headers["x-lockgate-provider"] == "anthropic"
    assert len(fake.requests_to(PATH)) == 2 and len(fake.requests_to("/v1/messages")) == 1
    stats = httpx.get(gw.url + "/api/stats", headers=bearer()).json()
    assert stats["total_requests"] == 1
    model = stats["models"]["gpt-4o-mini"]
    assert (
        model["requests"] == 1
        and model["completion_tokens"] == r.json()["usage"]["completion_tokens"]
    )


def test_context_window_fallback(fake, gateway_factory):
    """A context-length rejection switches to the context-window fallback, not a retry."""
    gw = gateway_factory(
        model_list(fake),
        router_settings=fast_router(context_window_fallbacks=[{"gpt-4o-mini": ["claude-haiku"]}]),
    )
    body = {
        "error": {
            "message": "This model's maximum context length is 128000 tokens",
            "code": "context_length_exceeded",
            "type": "invalid_request_error",
        }
    }
    fake.push_fault(Fault.error(400, body=body, path=PATH), times=1)
    r = post(gw)
    assert r.status_code == 200 and r.headers["x-lockgate-provider"] == "anthropic"
    assert len(fake.requests_to(PATH)) == 1


def test_retry_budget_caps_amplification(fake, gateway_factory):
    """With a zero retry budget an outage costs one upstream call per request."""
    gw = gateway_factory(
        model_list(fake),
        router_settings=fast_router(
            retry_budget_ratio=0.0,
            retry_budget_min_per_second=0.0,
            breaker={"consecutive_failures": 0, "min_calls": 1000},
        ),
    )
    fake.push_fault(Fault.error(503, path=PATH), times=None)
    codes = [post(gw).status_code for _ in range(5)]
    assert codes == [503] * 5
    assert len(fake.requests_to(PATH)) == 5


async def test_async_concurrent_requests_with_faults(fake, gateway_factory):
    """Concurrent clients during a 503 burst all get answers."""
    no_trip = {"consecutive_failures": 0, "min_calls": 1000}
    gw = gateway_factory(
        model_list(fake), router_settings=fast_router(num_retries=3, breaker=no_trip)
    )
    fake.push_fault(Fault.error(503, path=PATH), times=5)
    async with httpx.AsyncClient(timeout=30) as client:
        rs = await asyncio.gather(
            *[
                client.post(gw.v1 + "/chat/completions", json=CHAT, headers=bearer())
                for _ in range(10)
            ]
        )
    assert [r.status_code for r in rs] == [200] * 10
    assert len(fake.requests_to(PATH)) == 15


def test_retry_prefers_another_deployment(fake, gateway_factory):
    """With two deployments, a refused connection on one is retried on the other at once."""
    from tests.conftest import free_port

    dead = {
        "model_name": "gpt-4o-mini",
        "params": {
            "model": "openai/gpt-4o-mini",
            "api_base": f"http://127.0.0.1:{free_port()}/v1",  # nothing listens there
            "api_key": "sk-x",
            "weight": 1000,
        },
    }
    alive = {**model_list(fake)[0], "params": {**model_list(fake)[0]["params"], "weight": 0.001}}
    gw = gateway_factory([dead, alive], router_settings=fast_router(num_retries=1))
    r = post(gw)
    assert r.status_code == 200
    assert r.headers["x-lockgate-deployment"] == "gpt-4o-mini#1"
    assert r.headers["x-lockgate-attempts"] == "2"
    assert len(fake.requests_to(PATH)) == 1
