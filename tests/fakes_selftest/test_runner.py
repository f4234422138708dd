"""The fake runs in a background thread for sync tests and as a standalone process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import openai
from tests.fakes import Fault, start_in_thread

ROOT = Path(__file__).resolve().parents[2]


def test_thread_runner_with_sync_sdk() -> None:
    """A threaded fake serves the sync OpenAI SDK and takes faults from the test thread."""
    with start_in_thread() as fake:
        fake.push_fault(Fault.error(503))
        client = openai.OpenAI(base_url=fake.openai_base_url, api_key="k", max_retries=1)
        with client:
            reply = client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "sync"}]
            )
        assert reply.choices[0].message.content == "echo: sync"
        assert [r.fault for r in fake.requests] == ["status", None]
        assert fake.url.startswith("http://127.0.0.1:")
    assert not fake._thread.is_alive()


def test_standalone_process() -> None:
    """``python -m tests.fakes --port 0`` announces its URL and obeys the control API."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes", "--port", "0"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = line.rsplit(" ", 1)[-1].strip()
        assert url.startswith("http://127.0.0.1:")
        push = urllib.request.Request(
            url + "/_control/faults",
            method="POST",
            data=json.dumps({"kind": "status", "status": 418}).encode(),
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(push, timeout=5) as resp:
            assert json.load(resp) == {"pending": 1}
        client = openai.OpenAI(base_url=url + "/v1", api_key="k", max_retries=0)
        with client:
            try:
                client.models.list()
                status = 200
            except openai.APIStatusError as exc:
                status = exc.status_code
            assert status == 418
            assert next(m.id for m in client.models.list().data) == "gpt-4o-mini"
        with urllib.request.urlopen(url + "/_control/requests", timeout=5) as resp:
            assert [r["path"] for r in json.load(resp)["requests"]] == ["/v1/models"] * 2
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
    assert proc.returncode == 0
