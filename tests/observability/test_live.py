"""Real servers on 127.0.0.1: in-flight streams and upstream retries seen from /metrics."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from tests.fakes import Fault, ThreadedFake, start_in_thread
from tests.live_server import serve_in_thread
from tests.observability.scrape import samples, value
from tests.support import MASTER, bearer

from lockgate.settings import settings_from_mapping


@pytest.fixture(scope="module")
def fake() -> Iterator[ThreadedFake]:
    """A fake OpenAI-wire provider for this module."""
    with start_in_thread() as server:
        yield server


def _settings(fake: ThreadedFake, tmp_path):
    return settings_from_mapping(
        {
            "model_list": [
                {
                    "model_name": "gpt-4o-mini",
                    "params": {
                        "model": "openai/gpt-4o-mini",
                        "api_base": fake.openai_base_url,
                        "api_key": "sk-upstream",
                    },
                }
            ],
            "router_settings": {"retry_backoff_base": 0, "num_retries": 2},
            "general_settings": {
                "master_key": MASTER,
                "database_url": f"sqlite+aiosqlite:///{tmp_path}/live.db",
            },
        },
        env={},
    )


def test_inflight_counts_an_open_stream(fake, tmp_path):
    """A stream stalled upstream counts as in flight; once read to the end it no longer does."""
    fake.reset()
    fake.push_fault(Fault.stall(after_chunks=2, seconds=1.5))
    body = {
        "model": "gpt-4o-mini",
        "stream": True,
        "messages": [{"role": "user", "content": "one two three four"}],
    }
    with serve_in_thread(_settings(fake, tmp_path)) as gw, httpx.Client(timeout=20) as client:
        with client.stream(
            "POST", gw.url + "/v1/chat/completions", headers=bearer(), json=body
        ) as r:
            lines = r.iter_lines()
            assert next(lines).startswith("data:")
            during = client.get(gw.url + "/metrics", headers=bearer()).text
            rest = list(lines)
        after = client.get(gw.url + "/metrics", headers=bearer()).text
    assert rest[-1] == "data: [DONE]" or "data: [DONE]" in rest
    assert value(samples(during), "lockgate_inflight_requests") == 1
    assert value(samples(after), "lockgate_inflight_requests") == 0
    ttft = "gen_ai_server_time_to_first_token_seconds_count"
    assert (
        value(samples(after), ttft, gen_ai_request_model="gpt-4o-mini", gen_ai_system="openai") == 1
    )


def test_retried_request_counts_once(fake, tmp_path):
    """An upstream 503 then success is one request in metrics, with the upstream time of both."""
    fake.reset()
    fake.push_fault(Fault.error(503))
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "retry me"}]}
    with serve_in_thread(_settings(fake, tmp_path)) as gw, httpx.Client(timeout=20) as client:
        r = client.post(gw.url + "/v1/chat/completions", headers=bearer(), json=body)
        page = samples(client.get(gw.url + "/metrics", headers=bearer()).text)
    assert r.status_code == 200 and r.headers["x-lockgate-attempts"] == "2"
    labels = {
        "gen_ai_request_model": "gpt-4o-mini",
        "gen_ai_system": "openai",
        "key": "master",
        "status": "200",
        "cache": "bypass",
    }
    assert value(page, "lockgate_requests_total", **labels) == 1
    assert (
        value(
            page,
            "lockgate_upstream_duration_seconds_count",
            gen_ai_request_model="gpt-4o-mini",
            gen_ai_system="openai",
        )
        == 1
    )
