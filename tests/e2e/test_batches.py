"""/v1/files and /v1/batches driven by the official openai SDK against a live gateway,
with lines answered by a fake OpenAI upstream; and a batch that survives SIGKILL."""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from pathlib import Path

import httpx
import openai
import pytest
import yaml
from tests.conftest import free_port
from tests.e2e.conftest import GatewayFactory, model_list
from tests.fakes import ThreadedFake
from tests.live_server import spawn_serve, wait_ok
from tests.support import MASTER, bearer


def batch_file(n: int, model: str = "gpt-4o-mini", endpoint: str = "/v1/chat/completions") -> bytes:
    rows = []
    for i in range(n):
        body: dict[str, object] = (
            {"model": model, "input": f"text {i}"}
            if endpoint == "/v1/embeddings"
            else {"model": model, "messages": [{"role": "user", "content": f"line {i}"}]}
        )
        rows.append({"custom_id": f"req-{i}", "method": "POST", "url": endpoint, "body": body})
    return ("\n".join(json.dumps(r) for r in rows) + "\n").encode()


def wait_done(client: openai.OpenAI, batch_id: str, timeout: float = 60) -> openai.types.Batch:
    deadline = time.monotonic() + timeout
    while True:
        batch = client.batches.retrieve(batch_id)
        if batch.status in ("completed", "failed", "cancelled", "expired"):
            return batch
        assert time.monotonic() < deadline, f"batch still {batch.status}"
        time.sleep(0.2)


def test_chat_batch_with_the_openai_sdk(
    gateway_factory: GatewayFactory, fake: ThreadedFake
) -> None:
    """Upload, create, poll, download: every line answered once, in the output file with
    its custom_id; usage rows carry the lines' tokens; the fake saw each line once."""
    gw = gateway_factory(model_list(fake), batches={"concurrency": 8, "poll_seconds": 0.05})
    client = openai.OpenAI(base_url=gw.v1, api_key=MASTER)
    f = client.files.create(file=("in.jsonl", batch_file(40)), purpose="batch")
    assert f.purpose == "batch" and f.bytes > 0
    batch = client.batches.create(
        input_file_id=f.id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        metadata={"team": "eval"},
    )
    assert batch.status == "in_progress" and batch.request_counts.total == 40
    done = wait_done(client, batch.id)
    assert done.status == "completed", done
    assert done.request_counts.completed == 40 and done.request_counts.failed == 0
    assert done.metadata == {"team": "eval"} and done.completed_at is not None
    out = [json.loads(x) for x in client.files.content(done.output_file_id).text.splitlines()]
    assert sorted(o["custom_id"] for o in out) == sorted(f"req-{i}" for i in range(40))
    assert all(o["response"]["status_code"] == 200 for o in out)
    assert all(o["response"]["body"]["object"] == "chat.completion" for o in out)
    seen = Counter(
        r.body["messages"][0]["content"] for r in fake.requests_to("/v1/chat/completions")
    )
    assert len(seen) == 40 and max(seen.values()) == 1
    # usage rows are written in the background (flush_interval 1 s): wait for them
    deadline = time.monotonic() + 15
    while True:
        usage = httpx.get(  # a report flushes the usage writer first: slow on a loaded box
            gw.url + "/admin/usage", params={"group_by": "model"}, headers=bearer(), timeout=60
        ).json()
        if usage["totals"]["requests"] >= 40 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert usage["totals"]["requests"] >= 40
    listed = client.batches.list()
    assert batch.id in [b.id for b in listed.data]


def test_a_malformed_line_fails_validation_before_anything_runs(
    gateway_factory: GatewayFactory, fake: ThreadedFake
) -> None:
    """Line 3 is broken: the batch is `failed` with that line number; no upstream call."""
    gw = gateway_factory(model_list(fake))
    client = openai.OpenAI(base_url=gw.v1, api_key=MASTER)
    data = batch_file(2) + b'{"custom_id": "x", "method": "POST"}\n'
    f = client.files.create(file=("bad.jsonl", data), purpose="batch")
    batch = client.batches.create(
        input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    assert batch.status == "failed"
    assert batch.errors is not None and batch.errors.data[0].line == 3
    unknown = client.files.create(file=("m.jsonl", batch_file(2, model="nope")), purpose="batch")
    b2 = client.batches.create(
        input_file_id=unknown.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    assert b2.status == "failed" and b2.errors.data[0].code == "model_not_found"
    assert fake.requests_to("/v1/chat/completions") == []


def test_files_and_batches_belong_to_their_key(
    gateway_factory: GatewayFactory, fake: ThreadedFake
) -> None:
    """Another virtual key gets 404 for a file and a batch it did not create."""
    gw = gateway_factory(model_list(fake))
    keys = [
        httpx.post(gw.url + "/admin/keys", json={"name": n}, headers=bearer()).json()["key"]
        for n in ("a", "b")
    ]
    a = openai.OpenAI(base_url=gw.v1, api_key=keys[0])
    b = openai.OpenAI(base_url=gw.v1, api_key=keys[1])
    f = a.files.create(file=("in.jsonl", batch_file(2)), purpose="batch")
    batch = a.batches.create(
        input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    with pytest.raises(openai.NotFoundError):
        b.files.retrieve(f.id)
    with pytest.raises(openai.NotFoundError):
        b.batches.retrieve(batch.id)
    with pytest.raises(openai.NotFoundError):
        b.batches.create(
            input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
    assert wait_done(a, batch.id).request_counts.completed == 2


def test_embeddings_batch_and_cancel(gateway_factory: GatewayFactory, fake: ThreadedFake) -> None:
    """An embeddings batch completes; a cancelled batch ends `cancelled` with fewer
    answered lines than it had."""
    gw = gateway_factory(model_list(fake), batches={"concurrency": 1, "poll_seconds": 0.05})
    client = openai.OpenAI(base_url=gw.v1, api_key=MASTER)
    f = client.files.create(
        file=("e.jsonl", batch_file(5, endpoint="/v1/embeddings")), purpose="batch"
    )
    done = wait_done(
        client,
        client.batches.create(
            input_file_id=f.id, endpoint="/v1/embeddings", completion_window="24h"
        ).id,
    )
    assert done.status == "completed" and done.request_counts.completed == 5
    big = client.files.create(file=("c.jsonl", batch_file(400)), purpose="batch")
    batch = client.batches.create(
        input_file_id=big.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    cancelled = client.batches.cancel(batch.id)
    assert cancelled.status in ("cancelling", "cancelled")
    final = wait_done(client, batch.id)
    assert final.status == "cancelled"
    assert final.request_counts.completed < 400


def test_batch_survives_two_sigkills(tmp_path: Path, fake: ThreadedFake) -> None:
    """A 1,500-line batch; the gateway is SIGKILLed twice mid-run and restarted. It
    completes with exactly 1,500 output lines, each custom_id once; upstream saw every
    line; a line was sent again only if its answer had not reached the gateway at a kill
    (an answer that had is journaled on arrival and replayed), every such re-send is
    counted in the batch and carries the line's first Idempotency-Key, so the fake
    (which honours the key) ran every line exactly once."""
    n, concurrency = 1500, 16
    config = tmp_path / "gw.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "model_list": model_list(fake),
                "general_settings": {
                    "master_key": MASTER,
                    "database_url": f"sqlite+aiosqlite:///{tmp_path}/gw.db",
                },
                "batches": {"concurrency": concurrency, "lease_seconds": 2, "poll_seconds": 0.05},
                "usage": {"enabled": False},
                "audit": {"enabled": False},
            }
        )
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "gw.log"
    proc = spawn_serve(config, port, log)
    try:
        wait_ok(url, "/health")
        client = openai.OpenAI(base_url=url + "/v1", api_key=MASTER, max_retries=5)
        f = client.files.create(file=("in.jsonl", batch_file(n)), purpose="batch")
        batch = client.batches.create(
            input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        for kill_at in (n // 4, n // 2):
            deadline = time.monotonic() + 60
            while len(fake.requests_to("/v1/chat/completions")) < kill_at:
                assert time.monotonic() < deadline, "no progress before the kill"
                time.sleep(0.02)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
            proc = spawn_serve(config, port, log)
            wait_ok(url, "/health")
        done = wait_done(client, batch.id, timeout=120)
        output = client_content(url, done.output_file_id) if done.output_file_id else ""
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert done.status == "completed"
    assert done.request_counts.completed == n and done.request_counts.failed == 0
    out = [json.loads(x) for x in output.splitlines()]
    ids = Counter(o["custom_id"] for o in out)
    assert len(out) == n and len(ids) == n
    sent = Counter(
        r.body["messages"][0]["content"] for r in fake.requests_to("/v1/chat/completions")
    )
    assert len(sent) == n  # nothing lost
    twice = sum(c - 1 for c in sent.values())
    resent = (done.model_extra or {})["lockgate"]["resent_requests"]
    # in flight or answered-but-unstored at one of the two kills, and counted as such.
    # The count is "may have reached the upstream", so it may also include, per kill, lines
    # marked sent that had not left yet: the primed ones (mark_ahead = concurrency / 2) and
    # running ones still inside the gateway's pipeline (at most concurrency) -- on a loaded
    # box CI saw 24 of those over two kills (twice 23, resent 47).
    # an answered line is journaled on arrival and replayed, not sent again: only lines
    # whose answer had not reached the gateway at a kill go twice (<= concurrency per kill)
    assert twice <= 2 * concurrency
    assert twice <= resent <= twice + 2 * (concurrency + concurrency // 2)
    keys: dict[str, set[str]] = {}
    for r in fake.requests_to("/v1/chat/completions"):
        keys.setdefault(r.body["messages"][0]["content"], set()).add(r.headers["idempotency-key"])
    assert all(len(k) == 1 for k in keys.values())  # one key per line, on every send
    assert len({k for ks in keys.values() for k in ks}) == n
    # each line's answer was built once upstream; a duplicate was replayed from its key
    assert len(fake.executions) == n and max(fake.executions.values()) == 1
    print(
        f"\nbatch restart: {n} lines, 2 SIGKILLs, output {len(out)},"
        f" upstream {sum(sent.values())}, re-sent {twice} (reported {resent}),"
        f" replayed by key {fake.replays['/v1/chat/completions']},"
        f" executed {sum(fake.executions.values())}"
    )


def client_content(url: str, file_id: str) -> str:
    return httpx.get(f"{url}/v1/files/{file_id}/content", headers=bearer(), timeout=30).text
