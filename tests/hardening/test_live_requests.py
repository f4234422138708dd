"""Findings 2, 3, 5, 7, 8, 11 and 12 against a live gateway (real uvicorn, real fake upstream).

Each test starts its gateway on its own database, does its bad thing, checks what the
client saw, checks that another client is still served, then stops the gateway (which
flushes the writers) and reads the usage and audit rows back.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from tests.audit.conftest import audit_rows, settings_for
from tests.e2e.conftest import UPSTREAM_OPENAI_KEY
from tests.fakes import Fault
from tests.hardening.conftest import MOCK, fresh_database, usage_rows
from tests.live_server import LiveGateway, serve_in_thread
from tests.support import MASTER, bearer

PATH = "/v1/chat/completions"
HI = [{"role": "user", "content": "hello there"}]
PRICED = {"input_cost_per_million": 1000.0, "output_cost_per_million": 2000.0}


def openai_models(fake: Any, **params: Any) -> list[dict[str, Any]]:
    """One OpenAI alias on the fake, plus the mock for 'other tenants'."""
    return [
        {
            "model_name": "gpt-4o-mini",
            "params": {
                "model": "openai/gpt-4o-mini",
                "api_base": fake.openai_base_url,
                "api_key": UPSTREAM_OPENAI_KEY,
                **params,
            },
        },
        *MOCK,
    ]


def chat(gw: LiveGateway, body: dict[str, Any] | None = None, **headers: str) -> httpx.Response:
    return httpx.post(
        gw.v1 + "/chat/completions",
        json=body or {"model": "gpt-4o-mini", "messages": HI},
        headers={**bearer(), **headers},
        timeout=30,
    )


def others_served(gw: LiveGateway) -> None:
    """Another tenant's plain request still gets its answer."""
    r = chat(gw, {"model": "mock", "messages": HI})
    assert r.status_code == 200, r.text


def wait_for(condition: Any, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)


# ---------------------------------------------------------------- finding 2: request ids


def test_reused_client_request_id_keeps_every_row(tmp_path, fake):
    """Three requests with one x-request-id: three usage rows under the gateway's own ids."""
    url = f"sqlite+aiosqlite:///{tmp_path}/ids.db"
    settings = settings_for(url, openai_models(fake))
    with serve_in_thread(settings) as gw:
        answers = [chat(gw, **{"x-request-id": "same-id"}) for _ in range(3)]
        assert [r.status_code for r in answers] == [200, 200, 200]
        report = httpx.get(gw.url + "/admin/usage", headers=bearer(), timeout=10)
        assert report.status_code == 200
        others_served(gw)
    rows = asyncio.run(usage_rows(url))
    ids = {r.headers["x-request-id"] for r in answers}
    assert len(ids) == 3 and ids <= {row["request_id"] for row in rows}
    assert [row["client_request_id"] for row in rows].count("same-id") == 3
    assert {r.headers["x-client-request-id"] for r in answers} == {"same-id"}
    audited = asyncio.run(audit_rows(url))
    assert sum(row["record"]["client_request_id"] == "same-id" for row in audited) == 3


# ---------------------------------------------------------------- finding 3: stored strings


@pytest.fixture(params=["sqlite", "postgres"])
async def backend_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """A fresh database on each backend."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/strings.db"
    return await fresh_database(request.getfixturevalue("postgres_url"))


def test_odd_strings_never_wedge_usage_rows(backend_url, fake):
    """A 300-char user, a NUL in user and a long user header are stored, bounded and clean."""
    settings = settings_for(backend_url, openai_models(fake))
    with serve_in_thread(settings) as gw:
        odd = [
            chat(gw, {"model": "gpt-4o-mini", "messages": HI, "user": "u" * 300}),
            chat(gw, {"model": "gpt-4o-mini", "messages": HI, "user": "nul\x00user"}),
            chat(gw, **{"x-lockgate-user": "h" * 4000}),
            chat(gw, **{"x-request-id": "r" * 300}),
        ]
        assert [r.status_code for r in odd] == [200, 200, 200, 200]
        time.sleep(1.5)  # let the writer's tick pass: later rows must still be written
        after = chat(gw)
        assert after.status_code == 200
        others_served(gw)
    rows = {row["request_id"]: row for row in asyncio.run(usage_rows(backend_url))}
    for r in [*odd, after]:
        assert r.headers["x-request-id"] in rows
    users = {row["user"] for row in rows.values()}
    assert "u" * 200 in users and "nuluser" in users and "h" * 200 in users
    assert "r" * 128 in {row["client_request_id"] for row in rows.values()}


# ---------------------------------------------------------------- finding 5: error text


def test_upstream_error_text_never_reaches_the_client(tmp_path, fake):
    """An upstream 401 echoing the provider key: the client sees status and code only."""
    settings = settings_for(
        f"sqlite+aiosqlite:///{tmp_path}/err.db",
        openai_models(fake),
        router_settings={"num_retries": 0},
    )
    key = UPSTREAM_OPENAI_KEY
    echo = f"Incorrect API key provided: {key} (Authorization: Bearer {key})"
    fake.push_fault(
        Fault.error(
            401,
            body={
                "error": {
                    "message": echo,
                    "type": "invalid_request_error",
                    "code": "invalid_api_key",
                }
            },
            path=PATH,
        )
    )
    with serve_in_thread(settings) as gw:
        r = chat(gw)
        others_served(gw)
    assert r.status_code == 502
    err = r.json()["error"]
    assert UPSTREAM_OPENAI_KEY not in r.text and "Incorrect API key" not in r.text
    assert "upstream HTTP 401" in err["message"] and "invalid_api_key" in err["message"]
    assert err["code"] == "upstream_auth_failed" and r.headers["x-request-id"]


def test_unreachable_upstream_hides_host_and_port(tmp_path):
    """A refused connection is a 502 without the upstream's address or Python's text."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    models = [
        {
            "model_name": "gpt-4o-mini",
            "params": {"model": "openai/gpt-4o-mini", "api_base": f"http://127.0.0.1:{port}/v1"},
        }
    ]
    settings = settings_for(
        f"sqlite+aiosqlite:///{tmp_path}/down.db", models, router_settings={"num_retries": 0}
    )
    with serve_in_thread(settings) as gw:
        r = chat(gw)
    assert r.status_code == 502
    assert str(port) not in r.text and "Errno" not in r.text and "ssl:" not in r.text
    assert r.json()["error"]["code"] == "upstream_unreachable"


# ---------------------------------------------------------------- finding 7: answer size


def test_oversized_answers_are_502_streams_included(tmp_path, fake):
    """Past max_response_bytes: 502 upstream_response_too_large, and the request is recorded."""
    url = f"sqlite+aiosqlite:///{tmp_path}/big.db"
    settings = settings_for(
        url,
        openai_models(fake, max_response_bytes=2000),
        router_settings={"num_retries": 0},
    )
    long_text = [{"role": "user", "content": "word " * 1000}]
    body = {"model": "gpt-4o-mini", "messages": long_text, "max_tokens": 4000}
    with serve_in_thread(settings) as gw:
        whole = chat(gw, body)
        with httpx.stream(
            "POST",
            gw.v1 + "/chat/completions",
            json={**body, "stream": True},
            headers=bearer(),
            timeout=30,
        ) as streamed:
            events = [line for line in streamed.iter_lines() if line.startswith("data:")]
        small = chat(gw)
        others_served(gw)
    assert whole.status_code == 502
    assert whole.json()["error"]["code"] == "upstream_response_too_large"
    assert small.status_code == 200
    last = json.loads(events[-1].removeprefix("data:"))
    assert last["error"]["code"] == "upstream_response_too_large"
    codes = sorted(str(row["error_code"]) for row in asyncio.run(usage_rows(url)))
    assert codes.count("upstream_response_too_large") == 2


# ---------------------------------------------------------------- finding 8 and 12: hang-ups


def raw_request(gw: LiveGateway, body: bytes, *, declared: int | None = None) -> socket.socket:
    """Send a chat request on a raw socket (optionally declaring more body than sent)."""
    parts = urlsplit(gw.url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    head = (
        f"POST {PATH} HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {MASTER}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {declared or len(body)}\r\n\r\n"
    )
    sock.sendall(head.encode() + body)
    return sock


@pytest.mark.parametrize("fast_lane", [True, False])
def test_client_leaving_a_non_streamed_request_cancels_upstream(tmp_path, fake, fast_lane):
    """The upstream call is cancelled at once and the request is recorded as 499, whether
    the protocol serves the route itself (serving/fastlane.py) or through ASGI."""
    url = f"sqlite+aiosqlite:///{tmp_path}/gone.db"
    settings = settings_for(
        url,
        openai_models(fake),
        router_settings={"num_retries": 0},
        server={"fast_lane": fast_lane},
    )
    fake.push_fault(Fault.slow_headers(20, path=PATH))
    body = json.dumps({"model": "gpt-4o-mini", "messages": HI}).encode()
    with serve_in_thread(settings) as gw:
        sock = raw_request(gw, body)
        wait_for(lambda: len(fake.requests_to(PATH)) == 1)
        sock.close()
        wait_for(lambda: fake.cancelled == 1)
        assert fake.cancelled == 1
        others_served(gw)
    rows = asyncio.run(usage_rows(url))
    gone = [row for row in rows if row["model"] == "gpt-4o-mini"]
    assert [row["status"] for row in gone] == [499]


def test_client_hanging_up_mid_body_is_recorded_499(tmp_path, fake):
    """A body cut short by the client is a 499 record, not a 500."""
    url = f"sqlite+aiosqlite:///{tmp_path}/midbody.db"
    settings = settings_for(url, openai_models(fake))
    with serve_in_thread(settings) as gw:
        sock = raw_request(gw, b'{"model": "gpt-4o', declared=5000)
        time.sleep(0.3)
        sock.close()
        wait_for(lambda: bool(asyncio.run(audit_rows(url))), 3.0)
        others_served(gw)
    statuses = sorted(row["status"] for row in asyncio.run(usage_rows(url)))
    assert statuses == [200, 499]


@pytest.mark.parametrize("fast_lane", [True, False])
def test_stream_cut_mid_way_is_charged_what_it_delivered(tmp_path, fake, fast_lane):
    """An upstream dropping the stream after content: tokens and cost are not 0 and $0."""
    url = f"sqlite+aiosqlite:///{tmp_path}/cut.db"
    settings = settings_for(
        url,
        openai_models(fake, **PRICED),
        router_settings={"num_retries": 0},
        server={"fast_lane": fast_lane},
    )
    fake.push_fault(Fault.drop_mid_stream(after_chunks=4, path=PATH))
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "tell me " * 30}]}
    with serve_in_thread(settings) as gw:
        with httpx.stream(
            "POST",
            gw.v1 + "/chat/completions",
            json={**body, "stream": True},
            headers=bearer(),
            timeout=30,
        ) as r:
            lines = list(r.iter_lines())
        others_served(gw)
    assert any('"content"' in line for line in lines)
    (row,) = [row for row in asyncio.run(usage_rows(url)) if row["model"] == "gpt-4o-mini"]
    assert row["status"] >= 500
    assert row["prompt_tokens"] > 0 and row["completion_tokens"] > 0 and row["cost_usd"] > 0


# ---------------------------------------------------------------- finding 11: deep JSON


def test_deep_client_json_is_400_and_recorded(tmp_path, fake):
    """Client JSON nested 1,000 deep is a 400 with a record kept."""
    url = f"sqlite+aiosqlite:///{tmp_path}/deep.db"
    settings = settings_for(url, openai_models(fake))
    head = json.dumps({"model": "gpt-4o-mini", "messages": HI})[:-1]
    body = (head + ', "metadata": {"d": ' + "[" * 1000 + "1" + "]" * 1000 + "}}").encode()
    with serve_in_thread(settings) as gw:
        r = httpx.post(
            gw.v1 + "/chat/completions",
            content=body,
            headers={**bearer(), "content-type": "application/json"},
            timeout=30,
        )
        others_served(gw)
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    assert sorted(row["status"] for row in asyncio.run(usage_rows(url))) == [200, 400]
    assert sorted(row["record"]["status"] for row in asyncio.run(audit_rows(url))) == [200, 400]


def test_deep_upstream_answer_is_502_and_recorded(tmp_path, fake):
    """A 300-deep upstream answer is a 502 after the call, with usage and audit records."""
    url = f"sqlite+aiosqlite:///{tmp_path}/deepup.db"
    settings = settings_for(url, openai_models(fake), router_settings={"num_retries": 0})
    deep: Any = {}
    for _ in range(300):
        deep = {"d": deep}
    answer = {
        "id": "x",
        "object": "chat.completion",
        "model": "gpt-4o-mini",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
        "extra": deep,
    }
    fake.push_fault(Fault.error(200, body=answer, path=PATH))
    with serve_in_thread(settings) as gw:
        r = chat(gw)
        others_served(gw)
    assert r.status_code == 502 and r.json()["error"]["code"] == "upstream_bad_response"
    usage = [row for row in asyncio.run(usage_rows(url)) if row["model"] == "gpt-4o-mini"]
    assert [row["status"] for row in usage] == [502]
    audited = [row["record"] for row in asyncio.run(audit_rows(url))]
    assert [rec["status"] for rec in audited if rec["model"] == "gpt-4o-mini"] == [502]


# ---------------------------------------------------------------- finding 12: ratelimit reset


def test_upstream_ratelimit_reset_is_honoured_like_retry_after(tmp_path, fake):
    """A 429 carrying x-ratelimit-reset-requests: 2m (remaining 0) is not retried at once:
    the wait is past max_retry_after, so the client gets the 429 with that retry-after."""
    settings = settings_for(
        f"sqlite+aiosqlite:///{tmp_path}/reset.db",
        openai_models(fake),
        router_settings={"num_retries": 2, "retry_backoff_base": 0.01},
    )
    headers = {
        "x-ratelimit-reset-requests": "2m0s",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-tokens": "10ms",
        "x-ratelimit-remaining-tokens": "5000",
    }
    fake.push_fault(Fault.error(429, headers=headers, path=PATH), times=3)
    with serve_in_thread(settings) as gw:
        r = chat(gw)
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) == 120
    assert len(fake.requests_to(PATH)) == 1
