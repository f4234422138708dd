"""Every part that imports SQLAlchemy on first use works when first used in a live gateway.

`lockgate serve` imports SQLAlchemy, the table modules and each repository's statements
on first use (storage/lean_import.lazy_module), and on SQLite its idle polls read with
sqlite3 (storage/sqlite_reads.py).  In the test process SQLAlchemy is loaded long
before any repository, so the in-process suites never take that first-use path: here a
fresh `lockgate serve` process (SQLite file, and a fresh PostgreSQL database) is driven
through each part's first use: virtual keys, stored models, prompts and a rollout that
runs to its end, batches, the Responses API, the console pages, usage reports and the
audit log's verification.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from pathlib import Path

import asyncpg
import httpx
import pytest
from tests.live_server import spawn_serve, stopped_on_exit, wait_ok
from tests.opex.support import write
from tests.opex.test_serve_live import free_port
from tests.support import MASTER, bearer

CHAT = {"messages": [{"role": "user", "content": "hi"}]}


async def _fresh_postgres(url: str) -> str:
    """A new empty database on the session's server."""
    name = f"first_use_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()
    return url.rsplit("/", 1)[0] + "/" + name


def _sqlalchemy_mapped(pid: int) -> bool:
    """Whether the process has loaded SQLAlchemy (its compiled extensions are mapped)."""
    return "site-packages/sqlalchemy/" in Path(f"/proc/{pid}/maps").read_text()


def _until(check, what: str, timeout: float = 60.0):  # type: ignore[no-untyped-def]
    """``check()``'s first truthy value, polled (bounded by ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def _chat(c: httpx.Client, key: str = MASTER, **body: object) -> httpx.Response:
    return c.post("/v1/chat/completions", json={**CHAT, **body}, headers=bearer(key))


def _keys(c: httpx.Client) -> None:
    made = c.post("/admin/keys", json={"name": "first-use"}, headers=bearer())
    assert made.status_code == 201, made.text
    assert _chat(c, made.json()["key"], model="mock").status_code == 200
    listed = c.get("/admin/keys", headers=bearer()).json()["data"]
    assert made.json()["id"] in {k["id"] for k in listed}
    assert _chat(c, "sk-unknown-key", model="mock").status_code == 401


def _models(c: httpx.Client) -> None:
    entry = {"model_name": "extra", "params": {"model": "mock/mock-1"}}
    assert c.post("/admin/models", json=entry, headers=bearer()).status_code == 201
    _until(lambda: _chat(c, model="extra").status_code == 200, "the stored model serves")


def _prompts_and_rollout(c: httpx.Client) -> None:
    def push(text: str, labels: list[str]) -> None:
        messages = [{"role": "system", "content": text}]
        spec = {"name": "faq", "model": "mock", "labels": labels, "messages": messages}
        assert c.post("/admin/prompts", json=spec, headers=bearer()).status_code == 201

    push("Be brief.", ["production"])
    push("Be very brief.", [])
    served = _chat(c, prompt={"name": "faq"})
    assert served.status_code == 200 and served.headers["x-lockgate-prompt"] == "faq@1"
    rollout = {
        "name": "faq-v2",
        "prompt": "faq",
        "to_version": 2,
        "steps": [50, 100],
        "interval_seconds": 0.3,
        "min_requests": 1,
        "guards": {"max_error_rate_increase": 1.0, "max_p95_latency_ratio": None},
    }
    assert c.post("/admin/rollouts", json=rollout, headers=bearer()).status_code == 201

    def finished() -> dict[str, object] | None:
        assert _chat(c, prompt={"name": "faq"}).status_code == 200  # canary traffic
        state = c.get("/admin/rollouts/faq-v2", headers=bearer()).json()
        return state if state["status"] != "running" else None

    state = _until(finished, "the rollout ends")
    assert state["status"] == "succeeded", state
    labels = c.get("/admin/prompts/faq", headers=bearer()).json()
    assert "production" in json.dumps(labels)
    _until(
        lambda: _chat(c, prompt={"name": "faq"}).headers["x-lockgate-prompt"] == "faq@2",
        "the label moved to version 2",
    )


def _batches(c: httpx.Client) -> None:
    lines = [
        {
            "custom_id": f"r{i}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": "mock", **CHAT},
        }
        for i in range(3)
    ]
    data = b"".join(json.dumps(x).encode() + b"\n" for x in lines)
    f = c.post(
        "/v1/files", files={"file": ("in.jsonl", data)}, data={"purpose": "batch"}, headers=bearer()
    )
    assert f.status_code == 200, f.text
    made = c.post(
        "/v1/batches",
        json={
            "input_file_id": f.json()["id"],
            "endpoint": "/v1/chat/completions",
            "completion_window": "24h",
        },
        headers=bearer(),
    )
    assert made.status_code == 200, made.text

    def done() -> dict[str, object] | None:
        batch = c.get(f"/v1/batches/{made.json()['id']}", headers=bearer()).json()
        return batch if batch["status"] == "completed" else None

    batch = _until(done, "the batch completes")
    out = c.get(f"/v1/files/{batch['output_file_id']}/content", headers=bearer())
    assert sorted(json.loads(x)["custom_id"] for x in out.text.splitlines()) == ["r0", "r1", "r2"]


def _responses(c: httpx.Client) -> None:
    made = c.post("/v1/responses", json={"model": "mock", "input": "hi"}, headers=bearer())
    assert made.status_code == 200, made.text
    again = c.get(f"/v1/responses/{made.json()['id']}", headers=bearer())
    assert again.status_code == 200 and again.json()["id"] == made.json()["id"]


def _console(c: httpx.Client) -> None:
    form = c.get("/ui/login")
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', form.text)
    assert csrf is not None
    login = c.post("/ui/login", data={"master_key": MASTER, "csrf": csrf.group(1)})
    assert login.status_code == 303, login.text
    for page in ("/ui", "/ui/usage", "/ui/logs", "/ui/keys", "/ui/models", "/ui/prompts"):
        assert c.get(page).status_code == 200, page


def _reports(c: httpx.Client, chats: int) -> None:
    def counted() -> bool:
        report = c.get("/admin/usage", params={"model": "mock"}, headers=bearer()).json()
        return int(report["totals"]["requests"]) >= chats

    _until(counted, "the usage report counts the requests")
    verified = c.get("/admin/audit/verify", headers=bearer())
    assert verified.status_code == 200 and verified.json()["ok"] is True, verified.text


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_each_part_works_on_first_use_in_a_fresh_gateway(backend: str, tmp_path: Path, request):
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path}/gw.db"
    else:
        url = asyncio.run(_fresh_postgres(request.getfixturevalue("postgres_url")))
    config = write(
        tmp_path / "lockgate.yaml",
        "model_list:\n  - model_name: mock\n    params: {model: mock/mock-1}\n"
        f"general_settings: {{master_key: {MASTER}, database_url: '{url}'}}\n"
        "usage: {flush_interval_seconds: 0.05}\n"
        "prompts: {poll_interval_seconds: 0.1, rollout_tick_seconds: 0.1}\n"
        "batches: {poll_seconds: 0.05}\n"
        "server: {drain_seconds: 0}\n",
    )
    port, log = free_port(), tmp_path / "serve.log"
    with stopped_on_exit(spawn_serve(config, port, log)) as proc:
        base = f"http://127.0.0.1:{port}"
        wait_ok(base, timeout=120, proc=proc, log=log)
        with httpx.Client(base_url=base, timeout=30) as c:
            assert _chat(c, model="mock").status_code == 200
            # on SQLite, serving and polling needed no SQLAlchemy: each part below is
            # its first use in this process
            assert _sqlalchemy_mapped(proc.pid) is (backend == "postgres")
            _keys(c)
            assert _sqlalchemy_mapped(proc.pid)
            _models(c)
            _prompts_and_rollout(c)
            _batches(c)
            _responses(c)
            _console(c)
            _reports(c, chats=3)
            assert c.get("/ready").json()["status"] == "ready"
        proc.terminate()
        assert proc.wait(timeout=60) == 0, log.read_text()[-3000:]
