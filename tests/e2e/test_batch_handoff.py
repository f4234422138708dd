"""Batches handed to the providers' own batch APIs (``batches.handoff: auto``), driven by
the official openai SDK against a live gateway; the fake speaks OpenAI's Files + Batches
and Anthropic's Message Batches wire formats (tests/fakes/provider_batches.py)."""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import yaml
from tests.conftest import free_port
from tests.e2e.conftest import GatewayFactory, model_list
from tests.e2e.test_batches import client_content, wait_done
from tests.fakes import ThreadedFake
from tests.live_server import spawn_serve, wait_ok
from tests.support import MASTER, bearer

from lockgate.pricing import BUILTIN_PRICES

HANDOFF = {"handoff": "auto", "handoff_poll_seconds": 0.1, "poll_seconds": 0.05}


def lines(n: int, model: str, endpoint: str = "/v1/chat/completions") -> bytes:
    rows = []
    for i in range(n):
        body: dict[str, Any] = (
            {"model": model, "input": f"text {i}"}
            if endpoint == "/v1/embeddings"
            else {
                "model": model,
                "max_tokens": 50,
                "messages": [{"role": "user", "content": f"handoff line {i}"}],
            }
        )
        rows.append({"custom_id": f"req-{i}", "method": "POST", "url": endpoint, "body": body})
    return ("\n".join(json.dumps(r) for r in rows) + "\n").encode()


def submit(client: openai.OpenAI, data: bytes, endpoint: str = "/v1/chat/completions") -> Any:
    f = client.files.create(file=("in.jsonl", data), purpose="batch")
    return client.batches.create(input_file_id=f.id, endpoint=endpoint, completion_window="24h")


def output(client: openai.OpenAI, batch: Any) -> list[dict[str, Any]]:
    if batch.output_file_id is None:
        return []
    return [json.loads(x) for x in client.files.content(batch.output_file_id).text.splitlines()]


def usage_totals(url: str, requests: int) -> dict[str, Any]:
    """The usage report's totals once ``requests`` rows are written (the writer batches)."""
    deadline = time.monotonic() + 20
    while True:
        totals: dict[str, Any] = httpx.get(
            url + "/admin/usage", params={"group_by": "model"}, headers=bearer()
        ).json()["totals"]
        if totals["requests"] >= requests or time.monotonic() > deadline:
            return totals
        time.sleep(0.1)


def test_openai_handoff_completes_with_discounted_usage(
    gateway_factory: GatewayFactory, fake: ThreadedFake
) -> None:
    """A chat batch for an OpenAI alias goes to OpenAI's Batches API as one uploaded file
    and one batch; lockgate sends no line itself; the output file has each custom_id once
    with the provider's answer; the usage rows are priced at half the price."""
    n = 30
    gw = gateway_factory(model_list(fake), batches=HANDOFF)
    client = openai.OpenAI(base_url=gw.v1, api_key=MASTER)
    batch = submit(client, lines(n, "gpt-4o-mini"))
    assert (batch.model_extra or {})["lockgate"]["handoff"]["provider"] == "openai"
    done = wait_done(client, batch.id)
    assert done.status == "completed", done
    assert done.request_counts.completed == n and done.request_counts.failed == 0
    remote = (done.model_extra or {})["lockgate"]["handoff"]
    assert remote["remote_batch_id"] in fake.batches.batches_created
    out = output(client, done)
    assert sorted(o["custom_id"] for o in out) == sorted(f"req-{i}" for i in range(n))
    contents = {
        o["custom_id"]: o["response"]["body"]["choices"][0]["message"]["content"] for o in out
    }
    assert contents["req-7"] == "echo: handoff line 7"
    assert all(o["response"]["body"]["model"] == "gpt-4o-mini" for o in out)
    # what went upstream: one file, one batch, each line once, nothing interactive
    assert len(fake.batches.files_uploaded) == 1 and len(fake.batches.batches_created) == 1
    assert len(fake.batches.lines_received) == n
    assert set(fake.batches.lines_received.values()) == {1}
    assert fake.requests_to("/v1/chat/completions") == fake.requests_to("/v1/messages") == []
    sent = fake.batches.batches[remote["remote_batch_id"]]
    assert sent.metadata == {"lockgate_batch_id": batch.id}
    assert {line["body"]["model"] for line in sent.lines} == {"gpt-4o-mini"}
    # usage rows: one per line, at half the deployment's price
    price = BUILTIN_PRICES["gpt-4o-mini"]
    tokens = [o["response"]["body"]["usage"] for o in out]
    full = sum(
        t["prompt_tokens"] * price.input + t["completion_tokens"] * price.output for t in tokens
    )
    totals = usage_totals(gw.url, n)
    assert totals["prompt_tokens"] == sum(t["prompt_tokens"] for t in tokens)
    assert abs(totals["cost_usd"] - 0.5 * full / 1e6) < 1e-7


def test_anthropic_handoff_maps_results_into_the_openai_output_format(
    gateway_factory: GatewayFactory, fake: ThreadedFake
) -> None:
    """Chat lines for an Anthropic alias go to Message Batches translated to Messages
    requests and come back as chat.completion objects; /v1/messages lines stay
    messages; a line the provider rejects lands in the error file."""
    gw = gateway_factory(model_list(fake), batches=HANDOFF)
    client = openai.OpenAI(base_url=gw.v1, api_key=MASTER)
    chat = submit(client, lines(12, "claude-haiku"))
    assert (chat.model_extra or {})["lockgate"]["handoff"]["provider"] == "anthropic"
    done = wait_done(client, chat.id)
    assert done.status == "completed" and done.request_counts.completed == 12
    out = {o["custom_id"]: o for o in output(client, done)}
    body = out["req-3"]["response"]["body"]
    assert body["object"] == "chat.completion" and body["model"] == "claude-haiku"
    assert body["choices"][0]["message"]["content"] == "echo: handoff line 3"
    assert body["usage"]["prompt_tokens"] > 0
    (remote,) = [b for b in fake.batches.batches.values() if b.wire == "anthropic"]
    params = remote.lines[0]["params"]
    assert params["model"] == "claude-3-5-haiku-20241022" and "messages" in params
    assert remote.lines[0]["custom_id"] == f"{chat.id}-1"

    rows = [json.loads(x) for x in lines(4, "claude-haiku", "/v1/messages").splitlines()]
    del rows[2]["body"]["max_tokens"]  # Anthropic answers this one with an error
    data = ("\n".join(json.dumps(r) for r in rows) + "\n").encode()
    messages = wait_done(client, submit(client, data, "/v1/messages").id)
    assert messages.status == "completed"
    assert messages.request_counts.completed == 3 and messages.request_counts.failed == 1
    out = {o["custom_id"]: o for o in output(client, messages)}
    assert out["req-0"]["response"]["body"]["type"] == "message"
    assert out["req-0"]["response"]["body"]["content"][0]["text"] == "echo: handoff line 0"
    errors = [json.loads(x) for x in client.files.content(messages.error_file_id).text.splitlines()]
    assert [e["custom_id"] for e in errors] == ["req-2"]
    assert "max_tokens" in errors[0]["error"]["message"]
    assert set(fake.batches.lines_received.values()) == {1}
    assert fake.requests_to("/v1/messages") == []


def test_a_handed_off_batch_is_cancelled_at_the_provider(
    gateway_factory: GatewayFactory, fake: ThreadedFake
) -> None:
    """Cancel passes on to the provider once; what it ran before stopping is in the
    output file, the rest is not; the batch ends cancelled."""
    fake.batches.polls_to_end = 10**6
    gw = gateway_factory(model_list(fake), batches=HANDOFF)
    client = openai.OpenAI(base_url=gw.v1, api_key=MASTER)
    batch = submit(client, lines(10, "gpt-4o-mini"))
    deadline = time.monotonic() + 20
    while not fake.batches.batches_created:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    client.batches.cancel(batch.id)
    done = wait_done(client, batch.id)
    assert done.status == "cancelled"
    (remote,) = fake.batches.batches.values()
    assert remote.status == "cancelled" and remote.cancelling_at is not None
    out = output(client, done)
    assert sorted(o["custom_id"] for o in out) == [f"req-{i}" for i in (0, 2, 4, 6, 8)]
    assert done.request_counts.completed == 5


def test_optout_and_mixed_models_run_here(
    gateway_factory: GatewayFactory, fake: ThreadedFake
) -> None:
    """``lockgate_handoff: off`` in a batch's metadata, or lines naming two aliases: the
    batch runs through lockgate's own runner."""
    gw = gateway_factory(model_list(fake), batches=HANDOFF)
    client = openai.OpenAI(base_url=gw.v1, api_key=MASTER)
    f = client.files.create(file=("in.jsonl", lines(3, "gpt-4o-mini")), purpose="batch")
    kept = client.batches.create(
        input_file_id=f.id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        metadata={"lockgate_handoff": "off"},
    )
    mixed = lines(2, "gpt-4o-mini") + lines(2, "claude-haiku").replace(b"req-", b"other-")
    both = submit(client, mixed)
    for b in (kept, both):
        assert (b.model_extra or {})["lockgate"]["handoff"] is None
        assert wait_done(client, b.id).request_counts.completed == b.request_counts.total
    assert fake.batches.batches_created == []
    assert len(fake.requests_to("/v1/chat/completions")) == 5


@pytest.mark.parametrize("model", ["gpt-4o-mini", "claude-haiku"])
def test_a_handoff_survives_a_sigkill_during_the_create_call(
    tmp_path: Path, fake: ThreadedFake, model: str
) -> None:
    """The gateway is SIGKILLed after the provider created the batch but before its id
    came back. The restarted gateway finds that batch (OpenAI: by its metadata;
    Anthropic: created since the mark, as many requests) instead of creating a second:
    the provider received every line exactly once."""
    n = 200
    fake.batches.create_delay = 30.0  # the answer to the create call never arrives
    fake.batches.polls_to_end = 3
    config = tmp_path / "gw.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "model_list": model_list(fake),
                "general_settings": {
                    "master_key": MASTER,
                    "database_url": f"sqlite+aiosqlite:///{tmp_path}/gw.db",
                },
                "batches": {**HANDOFF, "lease_seconds": 2},
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
        batch = submit(client, lines(n, model))
        deadline = time.monotonic() + 30
        while not fake.batches.batches_created:
            assert time.monotonic() < deadline, "no batch created upstream"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        fake.batches.create_delay = 0.0
        proc = spawn_serve(config, port, log)
        wait_ok(url, "/health")
        done = wait_done(client, batch.id, timeout=60)
        out = client_content(url, done.output_file_id) if done.output_file_id else ""
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert done.status == "completed" and done.request_counts.completed == n
    ids = Counter(json.loads(x)["custom_id"] for x in out.splitlines())
    assert len(ids) == n and set(ids.values()) == {1}
    assert len(fake.batches.batches_created) == 1
    assert len(fake.batches.files_uploaded) == (1 if model == "gpt-4o-mini" else 0)
    assert len(fake.batches.lines_received) == n
    assert set(fake.batches.lines_received.values()) == {1}
    assert fake.requests_to("/v1/chat/completions") == fake.requests_to("/v1/messages") == []
