"""What the log detail and the evaluation reports read: the audit record's per-attempt
log and redacted headers (through a live gateway), the models form's round trip, and the
per-case summaries of a stored run."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from tests.fakes import Fault, start_in_thread
from tests.live_server import serve_in_thread
from tests.support import MASTER, bearer

from lockgate.audit.headers import MAX_VALUE, REDACTED, redacted_headers
from lockgate.audit.repository import AuditRepository
from lockgate.console.model_forms import entry_from_form, form_of
from lockgate.evals.summary import case_summaries
from lockgate.settings import ConfigError, settings_from_mapping
from lockgate.storage.database import Database


def test_a_retried_request_keeps_each_attempt_and_no_credential(tmp_path):
    """An upstream 503 then a success: two attempts in the audit record, each with its
    deployment, status, latency and error; the headers kept without any credential."""
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'gw.db'}"
    with start_in_thread() as fake:
        settings = settings_from_mapping(
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
                "general_settings": {"master_key": MASTER, "database_url": db_url},
                "audit": {"durability": "sync"},
            },
            env={},
        )
        fake.push_fault(Fault.error(503))
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "retry me"}]}
        headers = {
            **bearer(),
            "x-api-key": "sk-ant-secret-1",
            "cookie": "session=abc",
            "x-trace": "Bearer abc.def",
            "x-team-note": "blue",
        }
        with serve_in_thread(settings) as gw:
            r = httpx.post(gw.v1 + "/chat/completions", headers=headers, json=body, timeout=20)
            assert r.status_code == 200 and r.headers["x-lockgate-attempts"] == "2"
            request_id = r.headers["x-request-id"]

            async def read() -> dict:
                db = Database(db_url)
                try:
                    rows = await AuditRepository(db).by_request_id(request_id)
                finally:
                    await db.aclose()
                return rows[-1]["record"]

            record = asyncio.run(read())
    first, second = record["attempt_log"]
    assert first["deployment"] == second["deployment"] == "gpt-4o-mini#0"
    assert first["status"] == 503 and first["error"] and first["latency_ms"] >= 0
    assert second["status"] == 200 and second["error"] is None
    kept = record["request_headers"]
    assert kept["x-team-note"] == "blue"
    for name in ("authorization", "x-api-key", "cookie", "x-trace"):
        assert kept[name] == REDACTED, name
    text = json.dumps(record)
    assert MASTER not in text and "sk-ant-secret-1" not in text and "abc.def" not in text


def test_redacted_headers_cut_long_values_and_drop_nothing_silently():
    out = redacted_headers(
        {"X-Long": "a" * 1000, "Proxy-Authorization": "Basic x", "Accept": "*/*"}
    )
    assert out == {"x-long": "a" * MAX_VALUE, "proxy-authorization": REDACTED, "accept": "*/*"}
    assert redacted_headers({}) is None


def test_the_models_form_round_trips_a_stored_entry_and_keeps_its_secret():
    old = {
        "model_name": "mini-b",
        "params": {"model": "openai/gpt-4o-mini", "api_key": "sk-stored", "timeout": 30},
        "model_info": {"mode": "chat"},
    }
    shown = form_of(old)
    assert "sk-stored" not in json.dumps(shown)
    assert shown["api_key_hint"] == "(stored)" and json.loads(shown["extra"]) == {"timeout": 30}
    fields = {**shown, "api_key": "", "weight": "2", "extra": '{"timeout": null}'}
    new = entry_from_form(fields, old)
    assert new == {
        "model_name": "mini-b",
        "params": {"model": "openai/gpt-4o-mini", "api_key": "sk-stored", "weight": 2.0},
        "model_info": {"mode": "chat"},
    }
    assert form_of({"params": {"api_key": "os.environ/KEY_B"}})["api_key_hint"] == (
        "os.environ/KEY_B"
    )
    for bad in ({"weight": "heavy"}, {"extra": "[1]"}, {"extra": "{nope"}):
        with pytest.raises(ConfigError):
            entry_from_form({"model_name": "x", "model": "openai/x", **bad})


def test_case_summaries_count_repeats_with_an_interval_and_the_first_failure():
    results = [
        {"target": "t", "case_id": "a", "status": "pass", "score": 1.0, "verdicts": []},
        {
            "target": "t",
            "case_id": "a",
            "status": "fail",
            "score": 0.0,
            "verdicts": [{"type": "contains", "status": "fail", "reason": "missing x"}],
        },
        {"target": "t", "case_id": "b", "status": "error", "error": "upstream 503"},
    ]
    a, b = case_summaries(results)
    assert (a.passed, a.failed, a.errors, a.mean_score, a.reason) == (1, 1, 0, 0.5, "missing x")
    assert a.pass_rate.n == 2 and a.pass_rate.low < 0.5 < a.pass_rate.high
    assert (b.errors, b.pass_rate.n, b.reason) == (1, 0, "upstream 503")
