"""The registry through the gateway: admin API, prompt-bearing chat requests, render."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from tests.prompts.conftest import gateway_settings
from tests.support import bearer

SUPPORT = {
    "name": "support",
    "model": "mock",
    "params": {"temperature": 0.1},
    "messages": [
        {"role": "system", "content": "You help customers of {{ company }}."},
        {"role": "user", "content": "Question: {{ question }}"},
    ],
    "variables": {
        "type": "object",
        "properties": {"company": {"type": "string"}, "question": {"type": "string"}},
        "required": ["company", "question"],
    },
    "labels": ["production"],
    "message": "first cut",
}
VARS = {"company": "ACME", "question": "where is my parcel"}


def chat(variables=None, **prompt):
    """A chat body carrying a prompt reference."""
    return {
        "prompt": {"name": "support", "variables": variables or VARS, **prompt},
        "messages": [{"role": "user", "content": "and also: hello"}],
    }


@pytest.fixture()
def db_url(tmp_path: Path) -> str:
    """A SQLite file for the test's gateways."""
    return f"sqlite+aiosqlite:///{tmp_path}/gw.db"


async def test_push_chat_render_and_records(open_gateway, db_url):
    """A pushed prompt serves chats: header, rendered messages, usage row, metrics."""
    gw = await open_gateway(gateway_settings(db_url))
    r = await gw.post("/admin/prompts", json=SUPPORT)
    assert r.status_code == 201 and r.json()["version"] == 1
    again = await gw.post("/admin/prompts", json=SUPPORT)
    assert again.status_code == 200 and again.json()["created"] is False

    r = await gw.post("/v1/chat/completions", json=chat())
    assert r.status_code == 200, r.text
    assert r.headers["x-lockgate-prompt"] == "support@1"
    assert "You said: and also: hello" in r.json()["choices"][0]["message"]["content"]

    rendered = (await gw.post("/v1/prompts/support/render", json={"variables": VARS})).json()
    assert rendered["prompt"] == "support@1" and rendered["model"] == "mock"
    assert rendered["messages"][1] == {"role": "user", "content": "Question: where is my parcel"}
    assert rendered["temperature"] == 0.1

    fb = await gw.post(
        "/v1/feedback", json={"request_id": r.headers["x-request-id"], "thumbs": "up"}
    )
    assert fb.json()["prompt_version"] == "support@1"
    metrics = (await gw.get("/metrics")).text
    assert (
        'lockgate_prompt_requests_total{prompt="support",status="200",variant="",version="1"}'
        in metrics
    )


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        (chat({"company": "ACME"}), 400, "missing variables: question"),
        (chat({**VARS, "mood": "x"}), 400, "unexpected variables: mood"),
        (chat({**VARS, "question": 3}), 400, "is not of type 'string'"),
        (chat(label="nope"), 404, "no label 'nope'"),
        (chat(version=7), 404, "no version 7"),
        (chat(label="production", version=1), 400, "not both"),
        ({"prompt": "support"}, 400, "'prompt' must be an object"),
    ],
)
async def test_bad_prompt_references_are_clear_4xx(open_gateway, db_url, body, status, needle):
    """Missing/extra/invalid variables and unknown labels get a 4xx naming the problem."""
    gw = await open_gateway(gateway_settings(db_url))
    await gw.post("/admin/prompts", json=SUPPORT)
    r = await gw.post("/v1/chat/completions", json=body)
    assert r.status_code == status and needle in r.json()["error"]["message"]


async def test_admin_needs_the_master_key(open_gateway, db_url):
    """A plain key may render but not push."""
    gw = await open_gateway(gateway_settings(db_url))
    key = (await gw.post("/admin/keys", json={"name": "app"})).json()["key"]
    r = await gw.post("/admin/prompts", json=SUPPORT, headers=bearer(key))
    assert r.status_code == 403


async def test_label_moves_reach_another_replica_and_are_recorded(open_gateway, db_url):
    """Replica B serves the version replica A's label move points at, within its poll."""
    a = await open_gateway(gateway_settings(db_url))
    b = await open_gateway(gateway_settings(db_url))
    await a.post("/admin/prompts", json=SUPPORT)
    await a.post(
        "/admin/prompts",
        json={
            **SUPPORT,
            "labels": [],
            "messages": [{"role": "user", "content": "{{ question }}"}],
            "variables": None,
        },
    )
    first = await b.post("/v1/chat/completions", json=chat())
    assert first.headers["x-lockgate-prompt"] == "support@1"
    moved = await a.post(
        "/admin/prompts/support/labels", json={"label": "production", "version": 2}
    )
    assert moved.json() == {
        "name": "support",
        "label": "production",
        "from_version": 1,
        "to_version": 2,
    }
    deadline = time.monotonic() + 10
    seen = None
    while time.monotonic() < deadline:
        r = await b.post("/v1/chat/completions", json=chat({"question": "q"}))
        seen = r.headers.get("x-lockgate-prompt")
        if seen == "support@2":
            break
        await asyncio.sleep(0.05)
    assert seen == "support@2"
    shown = (await a.get("/admin/prompts/support")).json()
    assert [(h["from_version"], h["to_version"]) for h in shown["history"]] == [(None, 1), (1, 2)]
    back = await a.post("/admin/prompts/support/rollback", json={"label": "production"})
    assert back.json()["to_version"] == 1


async def test_prompt_files_file_wins_and_db_wins(open_gateway, tmp_path, db_url):
    """With file-wins a changed file becomes a new version with its labels; db-wins only seeds."""
    import yaml

    folder = tmp_path / "prompts"
    folder.mkdir()
    (folder / "support.yaml").write_text(yaml.safe_dump(SUPPORT))
    gw = await open_gateway(gateway_settings(db_url, prompts={"directory": str(folder)}))
    assert (await gw.post("/v1/prompts/support/render", json={"variables": VARS})).json()[
        "version"
    ] == 1
    changed = {**SUPPORT, "message": "edit", "params": {"temperature": 0.9}}
    (folder / "support.yaml").write_text(yaml.safe_dump(changed))
    db_wins = await open_gateway(gateway_settings(db_url, prompts={"directory": str(folder)}))
    assert (await db_wins.get("/admin/prompts/support")).json()["labels"] == {"production": 1}
    file_wins = await open_gateway(
        gateway_settings(db_url, prompts={"directory": str(folder), "source_of_truth": "file"})
    )
    shown = (await file_wins.get("/admin/prompts/support")).json()
    assert shown["labels"] == {"production": 2}
    assert shown["history"][-1]["actor"] == "config-file"


async def test_anthropic_messages_route_takes_a_prompt(open_gateway, db_url):
    """/v1/messages renders the prompt too; the template's system turn comes first."""
    gw = await open_gateway(gateway_settings(db_url))
    await gw.post("/admin/prompts", json=SUPPORT)
    r = await gw.post(
        "/v1/messages",
        json={
            "model": "any",
            "max_tokens": 50,
            "messages": [{"role": "user", "content": "and also: hello"}],
            "prompt": {"name": "support", "variables": VARS},
        },
    )
    assert r.status_code == 200, r.text
    assert r.headers["x-lockgate-prompt"] == "support@1"
    assert "You said: and also: hello" in r.json()["content"][0]["text"]


async def test_audit_record_carries_the_prompt(open_gateway, db_url):
    """The request's audit record names the resolved prompt version."""
    import json

    from lockgate.audit.repository import AuditRepository
    from lockgate.storage.database import Database

    gw = await open_gateway(gateway_settings(db_url, audit={"flush_interval_seconds": 0.05}))
    await gw.post("/admin/prompts", json=SUPPORT)
    r = await gw.post("/v1/chat/completions", json=chat())
    rid = r.headers["x-request-id"]
    db = Database(db_url)
    try:
        found = None
        for _ in range(100):
            async for row in AuditRepository(db).rows():
                if row["request_id"] == rid:
                    found = row
            if found is not None:
                break
            await asyncio.sleep(0.05)
    finally:
        await db.aclose()
    assert found is not None
    raw = found["record"]
    record = json.loads(raw) if isinstance(raw, str) else raw
    assert record["notes"]["prompt_version"] == "support@1"
    assert record["notes"]["prompt"] == {"name": "support", "version": 1, "label": "production"}
